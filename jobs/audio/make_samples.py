"""Regenerate the example speech files in jobs/audio/ (run: make audio-samples).

espeak-ng speaks each text to a WAV (22,050 Hz mono); PyAV converts that to the
formats users send: a 16 kHz mono WAV, a 44.1 kHz stereo MP3, a 48 kHz stereo
Opus in Ogg, and a FLAC at espeak's own rate, each under 100 KB. Muxers and
encoders run bit-exact (no version tags), so a rerun with the same espeak-ng and
PyAV gives the same bytes.

Needs espeak-ng on PATH (``apt-get install espeak-ng``) and PyAV; the tests do not.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import av

HERE = Path(__file__).resolve().parent
VOICE = "en-us"
WORDS_PER_MINUTE = 170

# name → (text, container format, codec, rate, layout, codec options)
SAMPLES: dict[str, tuple[str, str, str, int, str, dict[str, str]]] = {
    "hello.wav": (
        "Hello! This is a transcription test.",
        "wav",
        "pcm_s16le",
        16_000,
        "mono",
        {},
    ),
    "weather.mp3": (
        "The weather tomorrow will be sunny in the morning, "
        "with light rain expected in the evening.",
        "mp3",
        "libmp3lame",
        44_100,
        "stereo",
        {"b": "64k"},
    ),
    "question.ogg": (
        "What is the capital of France, and how many people live there?",
        "ogg",
        "libopus",
        48_000,
        "stereo",
        {"b": "48k"},
    ),
    "numbers.flac": (
        "Call me back at five five five, one two three four.",
        "flac",
        "flac",
        22_050,
        "mono",
        {},
    ),
}


def speak(text: str, wav: Path) -> None:
    """Say ``text`` with espeak-ng into ``wav``."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        sys.exit("espeak-ng not found: apt-get install espeak-ng")
    subprocess.run(
        [espeak, "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(wav), text], check=True
    )


def convert(
    source: Path,
    target: Path,
    container: str,
    codec: str,
    rate: int,
    layout: str,
    options: dict[str, str],
) -> None:
    """Re-encode ``source`` as ``codec`` in ``container`` at ``rate`` and ``layout``."""
    with (
        av.open(str(source)) as src,
        av.open(str(target), "w", format=container, options={"fflags": "+bitexact"}) as out,
    ):
        stream = out.add_stream(codec, rate=rate, layout=layout, options=options)
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name,
            layout=layout,
            rate=rate,
            frame_size=stream.codec_context.frame_size or None,
        )
        for frame in src.decode(audio=0):
            frame.pts = None
            for converted in resampler.resample(frame):
                out.mux(stream.encode(converted))
        for converted in resampler.resample(None):
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory (default: this one)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (text, container, codec, rate, layout, options) in SAMPLES.items():
            spoken = Path(tmp) / f"{name}.espeak.wav"
            speak(text, spoken)
            target = args.out / name
            convert(spoken, target, container, codec, rate, layout, options)
            print(f"{target}: {target.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
