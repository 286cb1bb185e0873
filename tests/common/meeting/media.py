"""Test media for meeting participants: a tone source and what a receiver measures of it."""

from __future__ import annotations

import numpy as np
from aiortc.mediastreams import AudioStreamTrack

TONE_HZ = 440


class ToneTrack(AudioStreamTrack):
    """A 440 Hz sine, 20 ms frames paced in real time (aiortc's silence track supplies the pacing)."""

    def __init__(self, amplitude: int = 8000) -> None:
        super().__init__()
        self.amplitude = amplitude
        self.sent = 0

    async def recv(self):
        frame = await super().recv()
        samples = frame.samples
        t = (np.arange(samples) + self.sent) / frame.sample_rate
        self.sent += samples
        wave = (self.amplitude * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)
        frame.planes[0].update(wave.tobytes())  # aiortc's silence is mono s16
        return frame


def first_channel(frame) -> np.ndarray:
    samples = frame.to_ndarray().astype(np.float64).reshape(-1)
    channels = len(frame.layout.channels)
    return samples.reshape(-1, channels)[:, 0] if channels > 1 and frame.format.is_packed else samples


def tone_energy(frames) -> tuple[float, float]:
    """(RMS of the frames, share of their spectrum's energy within 20 Hz of the tone)."""
    samples = np.concatenate([first_channel(f) for f in frames])
    rate = frames[0].sample_rate
    rms = float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    total = float(spectrum.sum()) or 1.0
    return rms, float(spectrum[np.abs(freqs - TONE_HZ) < 20].sum()) / total
