"""A tiny random causal language model with a ChatML chat template, built in memory (no downloads).

``build(folder)`` saves a 2-layer Qwen2 model and a byte-level BPE tokenizer (every byte is a token,
plus a handful of merges and the ChatML special tokens) with ``save_pretrained``, so
``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained(folder)`` load it as they would
Qwen2.5-Instruct. Its output is gibberish; the tests check structure, not prose.

The end-of-text token's embedding row is zero and the output layer is tied to the embeddings, so its
logit is always 0 while the others are random: greedy decoding never stops early and a run writes
exactly ``max_new_tokens`` tokens, which makes per-token progress countable. The same holds for
every token but letters and spaces, so the cleaned-up reply is never empty.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

CHATML = ("{% for message in messages %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
          "{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
_WORDISH = re.compile(r"Ġ?[A-Za-z]+|Ġ")
_MERGES = ("Ġ t", "Ġ a", "h e", "i n", "Ġt he", "e r", "o n", "Ġ s", "e n", "a n")


def _byte_vocab() -> dict[str, int]:
    """GPT-2's byte-to-unicode alphabet: 256 printable stand-ins, one per byte."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return {c: i for i, c in enumerate(sorted(chars, key=ord))}


def tokenizer(chat_template: str | None = CHATML):
    from transformers import Qwen2Tokenizer
    vocab = _byte_vocab()
    merges = []
    for merge in _MERGES:
        a, b = merge.split()
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
        merges.append((a, b))
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None, bos_token=None,
                         eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": [t for t in SPECIAL if t not in tok.get_vocab()]})
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


def build(folder: str | os.PathLike, *, chat_template: str | None = CHATML, seed: int = 0) -> Path:
    """Save the tiny model and tokenizer into ``folder``; returns it."""
    import torch
    import transformers
    from transformers import Qwen2Config, Qwen2ForCausalLM
    transformers.utils.logging.disable_progress_bar()
    folder = Path(folder)
    tok = tokenizer(chat_template)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    pad = tok.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, eos_token_id=eos, pad_token_id=pad, bos_token_id=None,
                         initializer_range=0.5)  # large weights: what it writes depends on the input
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb.normal_(0.0, 1.0)  # large enough that logits differ clearly: greedy is stable
        for token, i in tok.get_vocab().items():
            if not _WORDISH.fullmatch(token):
                emb[i].zero_()  # never the most likely: replies are letters and spaces, never empty
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
