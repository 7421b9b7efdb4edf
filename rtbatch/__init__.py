"""rtbatch: run batches of jobs through the OpenAI Realtime API, or its local emulator."""

__version__ = "0.1.0"
