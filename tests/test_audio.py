import wave

import numpy as np
import pytest

from audiofaith.audio import AudioError, audio_duration, load_audio, truncate


def write_wav(path, samples, rate=16000, channels=1):
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return path


def test_16k_mono_passes_through(tmp_path):
    samples = 0.5 * np.sin(np.linspace(0, 100, 16000))
    audio = load_audio(write_wav(tmp_path / "a.wav", samples))
    assert audio.samples.dtype == np.float32 and audio.seconds == pytest.approx(1.0)
    assert np.allclose(audio.samples, samples, atol=1e-4)
    assert audio.warnings == []
    assert audio_duration(tmp_path / "a.wav") == pytest.approx(1.0)


def test_stereo_8k_is_downmixed_and_resampled(tmp_path):
    stereo = np.stack([np.full(8000, 0.2), np.full(8000, 0.4)], axis=1).reshape(-1)
    audio = load_audio(write_wav(tmp_path / "s.wav", stereo, rate=8000, channels=2))
    assert audio.sample_rate == 16000 and audio.seconds == pytest.approx(1.0, abs=1e-3)
    assert audio.source_rate == 8000 and audio.source_channels == 2
    assert np.median(audio.samples) == pytest.approx(0.3, abs=1e-3)
    assert any("downmixed" in w for w in audio.warnings) and any("resampled" in w for w in audio.warnings)


def test_bad_audio_gives_clear_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="no samples"):
        load_audio(write_wav(tmp_path / "empty.wav", np.zeros(0)))
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="junk.wav: cannot decode"):
        load_audio(tmp_path / "junk.wav")


def test_clipping_and_silence_are_noted(tmp_path):
    assert any("clipped" in w for w in load_audio(write_wav(tmp_path / "c.wav", np.ones(1600))).warnings)
    assert any("silence" in w for w in load_audio(write_wav(tmp_path / "z.wav", np.zeros(1600))).warnings)


def test_truncation_is_recorded(tmp_path):
    audio = load_audio(write_wav(tmp_path / "l.wav", np.zeros(16000 * 3)))
    cut = truncate(audio, 2.0, "qwen2_audio")
    assert cut.seconds == pytest.approx(2.0)
    assert "truncated to qwen2_audio's 2 s window" in cut.warnings[-1]
    assert truncate(audio, None, "x") is audio
