"""The SALMONN backend's parts that need no SALMONN environment: the prompt layout, how weight
paths are resolved, and the errors a user meets before any model loads (missing checkout, the
repository's default branch, other code, SALMONN's real code under this environment's
transformers 5.x). Everything that runs SALMONN's real code with tiny weights is in
tests/salmonn_real (``make test-salmonn``, SALMONN's own environment); what only the real weights
on a GPU can show is listed in docs/salmonn.md."""

from __future__ import annotations

import json
import sys

import pytest

from audiofaith.backends import load_backend
from audiofaith.backends.salmonn import SPEECH_SLOT, SalmonnSetupError, salmonn_prompt, split_prompt
from audiofaith.text.prompts import answer_prefix, user_text
from tests.conftest import SHARED, requires, run_cli
from tests.test_prompts import ITEM, REASONING, check_golden

REAL_CHECKOUT = SHARED / "salmonn-code"


def placeholder_weights(root):
    """Existing paths for the four weights (only their existence is checked before the import)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("llama", "whisper"):
        (root / name).mkdir(exist_ok=True)
    for name in ("beats.pt", "salmonn.pth"):
        (root / name).write_bytes(b"")
    return {"llama_path": str(root / "llama"), "whisper_path": str(root / "whisper"),
            "beats_path": str(root / "beats.pt"), "ckpt": str(root / "salmonn.pth")}


def write_checkout(root, salmonn_py=None):
    """A checkout that the real code cannot stand for: the repository's default branch (only a
    README) or, with ``salmonn_py``, other code under SALMONN's module names."""
    root.mkdir(parents=True)
    (root / "README.md").write_text("# SALMONN\n")
    if salmonn_py is not None:
        (root / "models").mkdir()
        (root / "models" / "__init__.py").write_text("")
        (root / "models" / "salmonn.py").write_text(salmonn_py)
        (root / "configs").mkdir()
        (root / "configs" / "decode_config.yaml").write_text("model:\n  prompt_template: \"USER: {}\\nASSISTANT:\"\n")
    return root


# -- torch-free parts ---------------------------------------------------------------------------

def test_prompt_is_the_official_template_with_our_text():
    text = salmonn_prompt(user_text(ITEM, "cot"), answer_prefix(REASONING))
    check_golden("salmonn_conditioned.txt", text)
    assert text.startswith("USER: <Speech><SpeechHere></Speech> From the options provided")
    assert "\nASSISTANT: " + REASONING + "\n\nAnswer: (" in text
    before, after = split_prompt(text)
    assert before == "USER: <Speech>" and after.startswith("</Speech> From the options")
    assert salmonn_prompt("Q?") == "USER: " + SPEECH_SLOT + "Q?\nASSISTANT:"  # baseline: generation starts here
    assert split_prompt(salmonn_prompt("Q?", with_audio=False)) == ("", "USER: Q?\nASSISTANT:")


def test_missing_checkout_and_wrong_branch_are_explained(tmp_path):
    with pytest.raises(SalmonnSetupError, match="pass --salmonn_repo"):
        load_backend("salmonn", None, device="cpu")
    with pytest.raises(SalmonnSetupError, match="directory not found"):
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(tmp_path / "nowhere"))
    main_branch = write_checkout(tmp_path / "main")
    with pytest.raises(SalmonnSetupError, match="no models/salmonn.py: is it the `salmonn` branch"):
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(main_branch))


def test_config_file_and_model_path_supply_the_weights(tmp_path):
    from audiofaith.backends.salmonn import resolve_model_config

    repo = write_checkout(tmp_path / "SALMONN", "")
    weights = placeholder_weights(tmp_path / "weights")
    config = tmp_path / "decode.yaml"
    config.write_text("model:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in weights.items() if k != "ckpt"))
    resolved, origin, source = resolve_model_config(repo, str(config), {}, weights["ckpt"])
    assert {k: resolved[k] for k in weights} == weights
    assert origin["ckpt"] == "--model_path" and origin["llama_path"] == "decode.yaml: model.llama_path"
    assert resolved["prompt_path"] == "" and source == str(config)


@pytest.mark.slow
def test_other_code_versions_are_refused(tmp_path):
    repo = write_checkout(tmp_path / "SALMONN", "class SALMONN:\n    pass\n")
    with pytest.raises(SalmonnSetupError, match="has no SALMONN.from_config"):
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(repo), **placeholder_weights(tmp_path / "w"))
    assert "models" not in sys.modules


@pytest.mark.slow
@requires((REAL_CHECKOUT / "models" / "salmonn.py").is_file(), "../shared/salmonn-code absent")
def test_real_code_under_new_transformers_is_explained(tmp_path):
    """SALMONN's real Q-Former imports helpers that transformers 5.x no longer has: the user is told
    which environment to create, and nothing of the checkout stays imported."""
    with pytest.raises(SalmonnSetupError) as error:
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(REAL_CHECKOUT),
                     **placeholder_weights(tmp_path / "w"))
    message = str(error.value)
    assert "apply_chunking_to_forward" in message and "transformers <= 4.55" in message
    assert "4.28.0" in message and "requirements/salmonn.txt" in message
    assert not any(name.split(".")[0] in ("models", "utils", "dist_utils") for name in sys.modules)


@pytest.mark.slow
def test_scripts_explain_setup_errors_without_a_traceback(synthetic_data, tmp_path):
    for script in ("SALMONN_wrapper.py", "SALMONN13B_wrapper.py"):
        done = run_cli(f"interface/{script}", "--input", str(synthetic_data["manifests"]["gender"]), "--output",
                       str(tmp_path / f"{script}.jsonl"), "--data_root", str(synthetic_data["data_root"]),
                       "--salmonn_repo", str(tmp_path / "missing"))
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "--salmonn_repo" in done.stderr and "git clone -b salmonn" in done.stderr
    help_text = run_cli("-m", "audiofaith", "baseline", "--model", "salmonn_13b", "--help").stdout
    assert "--salmonn_repo" in help_text and "--num_beams" in help_text
