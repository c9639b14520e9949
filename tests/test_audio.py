import wave

import numpy as np
import pytest

from audiofaith.audio.io import AudioError, audio_duration, load_audio, truncate


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


def test_write_wav_is_16_bit_pcm_rounded_and_clipped(tmp_path):
    """audiofaith.audio.io.write_wav (soundfile) read back by the standard library's wave module."""
    from audiofaith.audio.io import write_wav as write_pcm16

    samples = np.array([0.0, 0.5, -0.5, 1e-4, 2.0, -2.0, 0.25 / 32767], dtype=np.float32)
    path = tmp_path / "nested" / "w.wav"
    write_pcm16(path, samples, rate=8000)
    with wave.open(str(path), "rb") as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (1, 2, 8000)
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    assert pcm.tolist() == [0, 16384, -16384, 3, 32767, -32768, 0]  # libsndfile's full-scale 2**15, clipped
    assert not list(path.parent.glob("*.tmp"))
    assert load_audio(path).source_rate == 8000


def test_resampling_is_soxr_not_linear():
    """A 7 kHz tone at 44.1 kHz keeps its amplitude through 16 kHz (linear interpolation would not)."""
    from audiofaith.audio.io import resample

    t = np.arange(44100) / 44100.0
    out = resample((0.5 * np.sin(2 * np.pi * 7000 * t)).astype(np.float32), 44100, 16000)
    assert out.dtype == np.float32 and len(out) == 16000
    assert np.sqrt(np.mean(out[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
