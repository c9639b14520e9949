"""Every registry entry resolves to a real backend class (no model is loaded)."""

import sys

import pytest

from audiofaith.backends import MODELS, Backend, backend_class, get_profile, get_spec
from audiofaith.prompts import PROFILES


@pytest.mark.parametrize("key", sorted(MODELS))
def test_registry_entry_resolves(key):
    cls = backend_class(key)
    assert issubclass(cls, Backend)
    assert cls.key == key
    assert get_spec(key).profile in PROFILES
    assert get_profile(key).answer_cue


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'nope'; known:"):
        get_spec("nope")


def test_core_modules_do_not_import_torch():
    import subprocess

    code = ("import sys; import audiofaith.cli, audiofaith.runners.baseline, audiofaith.runners.conditioned, "
            "audiofaith.manifest, audiofaith.answers, audiofaith.cot, audiofaith.prompts, audiofaith.sakura, "
            "audiofaith.backends; bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
