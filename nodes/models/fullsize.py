"""Every preset's real architecture, built from configs with random weights: no download.

For each preset in presets.json this builds the pipeline (or the transformers model and its
tokenizer) with the layer counts, widths, heads and channels of the public ``config.json`` /
``model_index.json`` of its repo, so that a timing taken on it costs what the real weights cost:
a denoising step, a token or a second of speech does the same arithmetic whatever the numbers in
the weights are. The bench ``bench/gpu.py`` measures them; the tests check the parameter counts
against the published ones (``PUBLISHED``) without allocating any memory (meta device).

- ``build(preset_id, device=..., dtype=...)``: the pipeline (diffusers) or ``{"model", "tokenizer"}``
  (transformers), modules in eval mode, allocated directly on ``device`` in ``dtype`` (so a 14 B
  model is never materialised in float32 on the CPU first). ``device="meta"`` allocates nothing.
- ``save(preset_id, folder, dtype)``: ``save_pretrained`` into ``folder`` plus a ``reelgraph.json``
  with the preset's defaults: a folder the model loaders read as they read the real one.
- ``param_counts(preset_id)`` / ``param_count(preset_id)``: per component / in all, on the meta device
  (``counts_of(build)`` for a build at hand).
- ``tiny=True`` (every function): the same builders with a few layers and tiny widths (as
  tests/tiny), for CPU tests of the whole bench path; ``defaults(preset_id, tiny=True)`` then gives
  the tiny native size, steps and frames.

Tokenizers are small ones built in memory (a character-level vocabulary; the embedding tables keep
their full size). Tokenizer size does not change timing much: a prompt is padded to the pipeline's
fixed text length (77 CLIP tokens, 256/512 T5 tokens) whatever its vocabulary, and an LLM's cost per
token is set by its layers and its full-size output layer, not by the tokenizer. Speech is the
exception to mind: VITS's audio length follows its token count, so timings there are per second of
audio made. torch, diffusers and transformers are imported inside the functions only.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from .presets import Preset, presets

# Published parameter counts: preset -> component (or components joined by "+") -> (count, source).
# Where a model card gives no count, the count is the repo's safetensors size over the bytes per
# parameter of its dtype (say which file).
_SD2 = ("https://github.com/Stability-AI/stablediffusion (README: SD 2 'uses a downsampling-factor 8 "
        "autoencoder with an 865M UNet and OpenCLIP ViT-H/14 text encoder'); sd-turbo is distilled SD 2.1")
_SDXL = ("SDXL paper, arXiv:2307.01952, Table 1: UNet 2.6B, text encoders (CLIP ViT-L + OpenCLIP "
         "ViT-bigG) 817M; sdxl-turbo is distilled SDXL 1.0")
_FLUX = ("https://huggingface.co/black-forest-labs/FLUX.1-schnell model card: 'a 12 billion parameter "
         "rectified flow transformer'; flux1-schnell.safetensors 23.8 GB bf16 = 11.9 B")
_FLUX_T5 = ("black-forest-labs/FLUX.1-schnell text_encoder_2 (T5-v1.1-XXL encoder): model-00001 4.99 GB "
            "+ model-00002 4.53 GB bf16 = 4.76 B")
_WAN = ("https://huggingface.co/city96/Wan2.1-I2V-14B-480P-gguf: 'Model size 16.4B params' (the I2V "
        "transformer: the 14B T2V backbone plus image cross-attention K/V); Comfy-Org "
        "wan2.1_i2v_480p_14B_bf16.safetensors 32.8 GB = 16.4 B")
_WAN_TEXT = ("Kijai/WanVideo_comfy umt5-xxl-enc-bf16.safetensors 11.4 GB = 5.7 B (the umT5-XXL encoder; "
             "the Diffusers repo's text_encoder stores its 256384-token embedding twice, 13.4 GB in fp16, "
             "but it loads as one tied table)")
_WAN_CLIP = "Wan2.1-I2V-14B-720P-Diffusers image_encoder model.safetensors 1.26 GB fp16 = 632 M"
_VITS = "{repo} model.safetensors 145 MB float32 = 36.3 M (the HF hub's 'Model size: 36.3M params')"

PUBLISHED: dict[str, dict[str, tuple[float, str]]] = {
    "sd-turbo": {"unet": (865e6, _SD2)},
    "sdxl-turbo": {"unet": (2.6e9, _SDXL), "text_encoder+text_encoder_2": (817e6, _SDXL)},
    "flux-schnell": {"transformer": (11.9e9, _FLUX), "text_encoder_2": (4.76e9, _FLUX_T5)},
    "flux-dev": {"transformer": (11.9e9, "https://huggingface.co/black-forest-labs/FLUX.1-dev model card: "
                                          "'a 12 billion parameter rectified flow transformer' (same as schnell, "
                                          "plus the guidance embedder); flux1-dev.safetensors 23.8 GB bf16"),
                 "text_encoder_2": (4.76e9, _FLUX_T5)},
    "svd-xt": {"unet": (1.525e9, "stabilityai/stable-video-diffusion-img2vid-xt unet/"
                                 "diffusion_pytorch_model.fp16.safetensors 3.05 GB = 1.52 B"),
               "vae": (97.7e6, "stabilityai/stable-video-diffusion-img2vid-xt vae fp16 196 MB = 98 M")},
    "ltx-video": {"transformer": (1.92e9, "Lightricks/LTX-Video transformer: 4.94 GB + 2.75 GB float32 "
                                          "safetensors = 1.92 B (the '2B' of ltx-video-2b)"),
                  "text_encoder": (4.76e9, "T5-v1.1-XXL encoder, as FLUX's text_encoder_2: 4.76 B")},
    "wan2.1-i2v-480p": {"transformer": (16.4e9, _WAN), "text_encoder": (5.7e9, _WAN_TEXT),
                        "image_encoder": (632e6, _WAN_CLIP)},
    "wan2.1-flf2v-720p": {"transformer": (16.4e9, "Comfy-Org wan2.1_flf2v_720p_14B_fp16.safetensors 32.8 GB "
                                                  "= 16.4 B (the I2V transformer plus the two images' "
                                                  "position embedding)"),
                          "text_encoder": (5.7e9, _WAN_TEXT), "image_encoder": (632e6, _WAN_CLIP)},
    "sd-x4-upscaler": {"unet": (473e6, "stabilityai/stable-diffusion-x4-upscaler unet/"
                                       "diffusion_pytorch_model.safetensors 1.89 GB float32 = 473 M"),
                       "text_encoder": (340e6, "stabilityai/stable-diffusion-x4-upscaler text_encoder/"
                                               "model.safetensors 1.36 GB float32 = 340 M")},
    "stable-audio-open": {"transformer": (1057e6, "Stable Audio Open paper, arXiv:2407.14358: DiT 1,057 M "
                                                  "parameters"),
                          "vae": (156e6, "Stable Audio Open paper, arXiv:2407.14358: autoencoder 156 M")},
    "audioldm2-music": {"unet": (350e6, "https://huggingface.co/cvssp/audioldm2-music model card: 'UNet "
                                        "Model Size 350M, Total Model Size 1.1B'"),
                        "*": (1.1e9, "https://huggingface.co/cvssp/audioldm2-music model card: 'Total Model "
                                     "Size 1.1B'")},
    "mms-tts-eng": {"model": (36.3e6, _VITS.format(repo="facebook/mms-tts-eng"))},
    "vits-ljs": {"model": (36.3e6, _VITS.format(repo="kakao-enterprise/vits-ljs"))},
    "qwen2.5-1.5b-instruct": {"model": (1.54e9, "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct model card: "
                                                "'Number of Parameters: 1.54B'")},
    "qwen2.5-7b-instruct": {"model": (7.61e9, "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct model card: "
                                              "'Number of Parameters: 7.61B'")},
}

# Native settings of the tiny builds (what presets.json's defaults are to the full ones).
TINY_DEFAULTS: dict[str, dict[str, Any]] = {
    "StableDiffusionPipeline": {"steps": 2, "guidance": 0.0, "short_side": 64, "multiple": 8},
    "StableDiffusionXLPipeline": {"steps": 2, "guidance": 0.0, "short_side": 64, "multiple": 8},
    "FluxPipeline": {"steps": 2, "guidance": 0.0, "short_side": 64, "multiple": 16, "max_sequence_length": 32},
    "StableVideoDiffusionPipeline": {"steps": 2, "frames": 4, "fps": 6, "width": 64, "height": 64, "multiple": 64,
                                     "motion_bucket_id": 127, "decode_chunk_size": 4, "frame_step": 1},
    "LTXImageToVideoPipeline": {"steps": 2, "frames": 9, "fps": 8, "width": 64, "height": 64, "multiple": 32,
                                "guidance": 3.0, "frame_step": 8, "max_sequence_length": 32},
    "WanImageToVideoPipeline": {"steps": 2, "frames": 5, "fps": 8, "width": 32, "height": 32, "multiple": 16,
                                "guidance": 5.0, "frame_step": 4, "max_sequence_length": 32},
    "StableDiffusionUpscalePipeline": {"steps": 2, "guidance": 0.0, "noise_level": 20, "tile": 64, "overlap": 8},
    "StableAudioPipeline": {"steps": 2, "guidance": 7.0, "max_seconds": 1.0, "sample_rate": 4000},
    "AudioLDM2Pipeline": {"steps": 2, "guidance": 3.5, "max_seconds": 1.0, "sample_rate": 16000},
    "VitsModel": {},
    "AutoModelForCausalLM": {"max_new_tokens": 8, "temperature": 0.7},
}

FOLDER_DEFAULTS = "reelgraph.json"
_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"


def preset(preset_id: str) -> Preset:
    try:
        return presets()[preset_id]
    except KeyError:
        raise KeyError(f"unknown preset {preset_id!r}; known: {', '.join(presets())}") from None


def defaults(preset_id: str, *, tiny: bool = False) -> dict[str, Any]:
    """The native settings a build runs at: the preset's, or the tiny build's."""
    p = preset(preset_id)
    if not tiny:
        return dict(p.defaults)
    return {**p.defaults, **TINY_DEFAULTS[p.pipeline]}


# -- building

@contextmanager
def _building(device: str, dtype):
    """Modules made inside are allocated on ``device`` in ``dtype`` (no float32 CPU copy first).
    The meta device goes through accelerate's ``init_empty_weights`` (parameters only), since some
    constructors compute with tensors (drop-path rates, rotary tables) that must stay real."""
    import torch
    before = torch.get_default_dtype()
    if dtype is not None and dtype.is_floating_point:
        torch.set_default_dtype(dtype)
    try:
        if str(device) == "meta":
            from accelerate import init_empty_weights
            with init_empty_weights(include_buffers=False):
                yield
        else:
            with torch.device(device):
                yield
    finally:
        torch.set_default_dtype(before)


def _dtype(name_or_dtype, device: str, p: Preset):
    import torch
    if name_or_dtype is None:
        name_or_dtype = "float32" if str(device) in ("cpu", "meta") else p.dtype
    return getattr(torch, name_or_dtype) if isinstance(name_or_dtype, str) else name_or_dtype


def build(preset_id: str, folder: str | os.PathLike | None = None, *, device: str = "cpu", dtype=None,
          tiny: bool = False, seed: int = 0):
    """The preset's pipeline (diffusers) or ``{"model": ..., "tokenizer": ...}`` (transformers) with
    random weights, on ``device`` in ``dtype`` (default: the preset's on a GPU, float32 on the CPU).
    ``folder``: where a tokenizer that needs files (VITS's vocab.json) writes them (a temporary
    folder when None)."""
    import torch
    p = preset(preset_id)
    dt = _dtype(dtype, device, p)
    if str(device) != "meta":
        torch.manual_seed(seed)
    with _building(device, dt):
        built = _BUILDERS[p.pipeline](p, _Size(tiny), folder)
    for module in _modules(built).values():
        if str(device) == "meta" and getattr(getattr(module, "config", None), "tie_word_embeddings", False):
            module.tie_weights()  # what post_init does, but not under init_empty_weights
        if str(device) != "meta":
            # what a constructor left in another dtype (plain Module.to: diffusers' warns about the next step)
            torch.nn.Module.to(module, device=device, dtype=dt)
            _keep_fp32(module, dt)
        module.eval()
    if hasattr(built, "set_progress_bar_config"):
        built.set_progress_bar_config(disable=True)
    return built


def _keep_fp32(module, dtype) -> None:
    """Put back in float32 what ``from_pretrained(dtype=half)`` keeps there (a model's
    ``_keep_in_fp32_modules``: Wan's norms, rotary table and time embedder, T5's ``wo``), so a
    direct build runs as a loaded one does."""
    import torch
    keep = getattr(module, "_keep_in_fp32_modules", None) or ()
    if dtype not in (torch.float16, torch.bfloat16) or not keep:
        return
    for name, sub in module.named_modules():
        if name and any(k in name.split(".") for k in keep):
            torch.nn.Module.to(sub, dtype=torch.float32)


def save(preset_id: str, folder: str | os.PathLike, dtype=None, *, device: str = "cpu", tiny: bool = False,
         seed: int = 0) -> Path:
    """Build the preset and ``save_pretrained`` it into ``folder`` (safetensors), with a
    ``reelgraph.json`` of its native settings; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    built = build(preset_id, folder, device=device, dtype=dtype, tiny=tiny, seed=seed)
    if isinstance(built, dict):
        built["model"].save_pretrained(folder)
        built["tokenizer"].save_pretrained(folder)
    else:
        built.save_pretrained(folder)
    write_defaults(folder, defaults(preset_id, tiny=tiny))
    del built
    return folder


def write_defaults(folder: str | os.PathLike, values: dict[str, Any]) -> None:
    (Path(folder) / FOLDER_DEFAULTS).write_text(json.dumps({"defaults": values}, indent=1), encoding="utf-8")


def _modules(built) -> dict[str, Any]:
    import torch
    items = built.items() if isinstance(built, dict) else built.components.items()
    return {k: v for k, v in items if isinstance(v, torch.nn.Module)}


def _count(module) -> int:
    seen: set[int] = set()
    total = 0
    for t in module.parameters():
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel()
    return total


def counts_of(built) -> dict[str, int]:
    """Parameters per component of a build (``model`` for a transformers preset); tied ones once."""
    return {name: _count(m) for name, m in _modules(built).items()}


def param_counts(preset_id: str, *, tiny: bool = False) -> dict[str, int]:
    """Parameters per component, built on the meta device: no weight memory is allocated."""
    return counts_of(build(preset_id, device="meta", tiny=tiny))


def param_count(preset_id: str, component: str | None = None, *, tiny: bool = False,
                counts: dict[str, int] | None = None) -> int:
    """All parameters of the preset (``component`` None or "*"), or of ``component`` ("a+b" sums
    several); ``counts``: from ``counts_of`` of a build at hand."""
    counts = counts if counts is not None else param_counts(preset_id, tiny=tiny)
    if component in (None, "*"):
        return sum(counts.values())
    return sum(counts[c] for c in str(component).split("+"))


class _Size:
    """Picks the full size or the tiny one: ``s(full, tiny)``."""

    def __init__(self, tiny: bool):
        self.tiny = tiny

    def __call__(self, full, small):
        return small if self.tiny else full


# -- tokenizers (small, in memory)

def clip_tokenizer():
    from transformers import CLIPTokenizer
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in _CHARS:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def t5_tokenizer(max_length: int = 512):
    from transformers import T5Tokenizer
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [(c, -3.0) for c in _CHARS] + [("\u2581" + c, -3.5) for c in _CHARS[:26]]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def roberta_tokenizer():
    from transformers import RobertaTokenizer
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for c in _CHARS + "\u0120":  # Ġ: byte-level BPE's space
        vocab.setdefault(c, len(vocab))
    return RobertaTokenizer(vocab=vocab, merges=[], model_max_length=77)


CHATML = ("{% for message in messages %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
          "{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def qwen_tokenizer():
    """Byte-level BPE over the 256 byte symbols (no merges) with ChatML's special tokens."""
    from transformers import Qwen2Tokenizer
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) \
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    vocab = {c: i for i, c in enumerate(sorted(chars, key=ord))}
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token=None, eos_token="<|im_end|>",
                         pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": [t for t in ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
                                                          if t not in tok.get_vocab()]})
    tok.chat_template = CHATML
    return tok


# -- text and image encoders shared by several pipelines

def _clip_text(s: _Size, *, hidden: int, inter: int, heads: int, layers: int, act: str, proj: int,
               with_projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    config = CLIPTextConfig(hidden_size=s(hidden, 16), intermediate_size=s(inter, 32),
                            num_attention_heads=s(heads, 2), num_hidden_layers=s(layers, 2), hidden_act=act,
                            projection_dim=s(proj, 16), vocab_size=s(49408, 1000), max_position_embeddings=77,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)


def _clip_l(s: _Size):
    """CLIP ViT-L/14's text tower (SDXL's first encoder, FLUX's CLIP): 123 M."""
    return _clip_text(s, hidden=768, inter=3072, heads=12, layers=12, act="quick_gelu", proj=768)


def _openclip_h_text(s: _Size):
    """OpenCLIP ViT-H/14's text tower without its last layer (SD 2.x, the ×4 upscaler): 340 M."""
    return _clip_text(s, hidden=1024, inter=4096, heads=16, layers=23, act="gelu", proj=512)


def _t5(s: _Size, *, d_model: int, d_ff: int, heads: int, layers: int, gated: bool, umt5: bool = False,
        vocab: int = 32128):
    """A T5 (or umT5) encoder; its token embedding is one table (transformers ties the encoder's to
    ``shared`` in an encoder-only model, whatever the checkpoint stores)."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel
    kw = dict(vocab_size=s(vocab, 200), d_model=s(d_model, 16), d_ff=s(d_ff, 32), d_kv=s(64, 8),
              num_heads=s(heads, 2), num_layers=s(layers, 2), relative_attention_num_buckets=s(32, 8),
              feed_forward_proj="gated-gelu" if gated else "relu", decoder_start_token_id=0,
              pad_token_id=0, eos_token_id=1)
    if umt5:
        return UMT5EncoderModel(UMT5Config(**kw))
    return T5EncoderModel(T5Config(**kw))


def _t5_xxl(s: _Size):
    """T5-v1.1-XXL's encoder (FLUX, LTX-Video): 4.76 B."""
    return _t5(s, d_model=4096, d_ff=10240, heads=64, layers=24, gated=True)


def _clip_vision(s: _Size, *, with_projection: bool, projection: int = 1024):
    """OpenCLIP ViT-H/14's image tower (SVD, Wan): 632 M; 224 px in 14 px patches."""
    from transformers import CLIPVisionConfig, CLIPVisionModel, CLIPVisionModelWithProjection
    config = CLIPVisionConfig(hidden_size=s(1280, 32), intermediate_size=s(5120, 64),
                              num_attention_heads=s(16, 4), num_hidden_layers=s(32, 2), patch_size=s(14, 32),
                              image_size=224, projection_dim=s(projection, 32), hidden_act="gelu")
    return (CLIPVisionModelWithProjection if with_projection else CLIPVisionModel)(config)


def _clip_processor(size: int = 224):
    from transformers import CLIPImageProcessor
    return CLIPImageProcessor(crop_size={"height": size, "width": size}, size={"shortest_edge": size},
                              do_center_crop=True, do_normalize=True, do_resize=True, resample=3)


def _sd_vae(s: _Size, *, blocks: int = 4, latent: int = 4, **extra):
    from diffusers import AutoencoderKL
    channels = s((128, 256, 512, 512), (8, 8, 8, 8))[:blocks]
    return AutoencoderKL(block_out_channels=channels, in_channels=extra.pop("in_channels", 3),
                         out_channels=extra.pop("out_channels", 3), latent_channels=latent,
                         down_block_types=("DownEncoderBlock2D",) * blocks,
                         up_block_types=("UpDecoderBlock2D",) * blocks, layers_per_block=s(2, 1),
                         norm_num_groups=s(32, 4), **extra)


# -- one builder per pipeline family: (preset, size, folder) -> pipeline or {"model", "tokenizer"}

def _stable_diffusion(p: Preset, s: _Size, folder):
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    text = _openclip_h_text(s)
    unet = UNet2DConditionModel(
        sample_size=s(64, 8), in_channels=4, out_channels=4, layers_per_block=s(2, 1),
        block_out_channels=s((320, 640, 1280, 1280), (8, 16, 16, 16)),
        attention_head_dim=s((5, 10, 20, 20), (2, 2, 4, 4)),
        cross_attention_dim=text.config.hidden_size, norm_num_groups=s(32, 4), use_linear_projection=True,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="trailing", steps_offset=1)
    return StableDiffusionPipeline(vae=_sd_vae(s, sample_size=s(512, 64)), text_encoder=text,
                                   tokenizer=clip_tokenizer(), unet=unet, scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)


def _stable_diffusion_xl(p: Preset, s: _Size, folder):
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    text = _clip_l(s)
    text_2 = _clip_text(s, hidden=1280, inter=5120, heads=20, layers=32, act="gelu", proj=1280,
                        with_projection=True)  # OpenCLIP ViT-bigG/14
    time_dim = s(256, 8)
    unet = UNet2DConditionModel(
        sample_size=s(64, 8), in_channels=4, out_channels=4, layers_per_block=s(2, 1),
        block_out_channels=s((320, 640, 1280), (8, 16, 32)), attention_head_dim=s((5, 10, 20), (2, 2, 4)),
        transformer_layers_per_block=s((1, 2, 10), (1, 1, 2)), norm_num_groups=s(32, 4),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=text.config.hidden_size + text_2.config.hidden_size, use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + text_2.config.projection_dim)
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                timestep_spacing="trailing", steps_offset=1)
    return StableDiffusionXLPipeline(vae=_sd_vae(s, sample_size=s(512, 64), scaling_factor=0.13025),
                                     text_encoder=text, text_encoder_2=text_2, tokenizer=clip_tokenizer(),
                                     tokenizer_2=clip_tokenizer(), unet=unet, scheduler=scheduler,
                                     add_watermarker=False)


def _flux(p: Preset, s: _Size, folder):
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    dev = p.default("guidance", 0.0) > 0  # FLUX.1-dev: guidance-distilled, a guidance embedder
    clip, t5 = _clip_l(s), _t5_xxl(s)
    latent = s(16, 4)
    vae = _sd_vae(s, latent=latent, sample_size=s(1024, 64), use_quant_conv=False, use_post_quant_conv=False,
                  shift_factor=0.1159, scaling_factor=0.3611)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=4 * latent, num_layers=s(19, 1), num_single_layers=s(38, 1),
        attention_head_dim=s(128, 8), num_attention_heads=s(24, 2), joint_attention_dim=t5.config.d_model,
        pooled_projection_dim=clip.config.hidden_size, guidance_embeds=dev, axes_dims_rope=s((16, 56, 56), (2, 2, 4)))
    if dev:
        scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                    max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
    else:
        scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)
    return FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=clip, tokenizer=clip_tokenizer(),
                        text_encoder_2=t5, tokenizer_2=t5_tokenizer(), transformer=transformer)


def _svd(p: Preset, s: _Size, folder):
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    encoder = _clip_vision(s, with_projection=True)
    time_dim = s(256, 8)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=s(96, 8), in_channels=8, out_channels=4, layers_per_block=s(2, 1),
        block_out_channels=s((320, 640, 1280, 1280), (32, 32, 64, 64)),
        down_block_types=("CrossAttnDownBlockSpatioTemporal",) * 3 + ("DownBlockSpatioTemporal",),
        up_block_types=("UpBlockSpatioTemporal",) + ("CrossAttnUpBlockSpatioTemporal",) * 3,
        addition_time_embed_dim=time_dim, projection_class_embeddings_input_dim=3 * time_dim,
        cross_attention_dim=encoder.config.projection_dim, num_attention_heads=s((5, 10, 20, 20), (2, 2, 4, 4)),
        transformer_layers_per_block=1, num_frames=s(25, 4))
    vae = AutoencoderKLTemporalDecoder(block_out_channels=s((128, 256, 512, 512), (32, 32, 32, 32)),
                                       down_block_types=("DownEncoderBlock2D",) * 4, layers_per_block=s(2, 1),
                                       latent_channels=4, sample_size=s(768, 64))
    scheduler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
        steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True)
    return StableVideoDiffusionPipeline(vae=vae, image_encoder=encoder, unet=unet, scheduler=scheduler,
                                        feature_extractor=_clip_processor(224))


def _ltx(p: Preset, s: _Size, folder):
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )
    t5 = _t5_xxl(s)
    latent = s(128, 8)
    heads, head_dim = s(32, 4), s(64, 8)
    transformer = LTXVideoTransformer3DModel(
        in_channels=latent, out_channels=latent, patch_size=1, patch_size_t=1, num_attention_heads=heads,
        attention_head_dim=head_dim, cross_attention_dim=heads * head_dim, num_layers=s(28, 1),
        caption_channels=t5.config.d_model)
    channels = s((128, 256, 512, 512), (8, 8, 8, 8))
    layers = s((4, 3, 3, 3, 4), (1, 1, 1, 1, 1))
    vae = AutoencoderKLLTXVideo(  # LTX-Video 0.9.0's: 32×32×8 pixels per latent token
        latent_channels=latent, block_out_channels=channels, decoder_block_out_channels=channels,
        layers_per_block=layers, decoder_layers_per_block=layers, patch_size=4, patch_size_t=1,
        spatio_temporal_scaling=(True, True, True, False), decoder_spatio_temporal_scaling=(True, True, True, False),
        encoder_causal=True, decoder_causal=False, timestep_conditioning=False)
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                                base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    return LTXImageToVideoPipeline(scheduler=scheduler, vae=vae, text_encoder=t5, tokenizer=t5_tokenizer(128),
                                   transformer=transformer)


def _wan(p: Preset, s: _Size, folder):
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanTransformer3DModel
    from transformers import CLIPVisionConfig, CLIPVisionModel
    last_frame = "last_frame" in p.supports  # FLF2V: both images' CLIP tokens, position-embedded
    text = _t5(s, d_model=4096, d_ff=10240, heads=64, layers=24, gated=True, umt5=True, vocab=256384)
    image_size, patch = s(224, 32), s(14, 4)
    encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=s(1280, 8), intermediate_size=s(5120, 16), num_attention_heads=s(16, 2),
        num_hidden_layers=s(32, 2), patch_size=patch, image_size=image_size, projection_dim=s(1024, 8),
        hidden_act="gelu"))
    heads, head_dim = s(40, 2), s(128, 12)
    tokens = (image_size // patch) ** 2 + 1
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=head_dim, in_channels=36,
        out_channels=16, text_dim=text.config.d_model, freq_dim=256, ffn_dim=s(13824, 32), num_layers=s(40, 2),
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=encoder.config.hidden_size,
        added_kv_proj_dim=heads * head_dim, rope_max_seq_len=1024,
        pos_embed_seq_len=2 * tokens if last_frame else None)
    vae = AutoencoderKLWan(base_dim=s(96, 8), z_dim=16, dim_mult=s([1, 2, 4, 4], [1, 1, 1, 1]),
                           num_res_blocks=s(2, 1), temperal_downsample=[False, True, True])
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        num_train_timesteps=1000, flow_shift=5.0 if last_frame else 3.0)
    return WanImageToVideoPipeline(tokenizer=t5_tokenizer(), text_encoder=text, vae=vae, scheduler=scheduler,
                                   image_processor=_clip_processor(image_size), image_encoder=encoder,
                                   transformer=transformer)


def _upscaler(p: Preset, s: _Size, folder):
    from diffusers import DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline, UNet2DConditionModel
    text = _openclip_h_text(s)
    unet = UNet2DConditionModel(
        sample_size=s(128, 16), in_channels=7, out_channels=4, layers_per_block=s(2, 1),
        block_out_channels=s((256, 512, 512, 1024), (8, 16, 16, 32)), attention_head_dim=s(8, 2),
        cross_attention_dim=text.config.hidden_size, norm_num_groups=s(32, 4), num_class_embeds=1000,
        only_cross_attention=(True, True, True, False), use_linear_projection=True,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 3,
        up_block_types=("CrossAttnUpBlock2D",) * 3 + ("UpBlock2D",))
    vae = _sd_vae(s, blocks=3, sample_size=s(256, 32), scaling_factor=0.08333)
    return StableDiffusionUpscalePipeline(
        vae=vae, text_encoder=text, tokenizer=clip_tokenizer(), unet=unet,
        low_res_scheduler=DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.0001, beta_end=0.02),
        scheduler=DDIMScheduler(prediction_type="v_prediction", beta_schedule="scaled_linear", beta_start=0.0001,
                                beta_end=0.02),
        safety_checker=None, feature_extractor=None, watermarker=None, max_noise_level=350)


def _stable_audio(p: Preset, s: _Size, folder):
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
    )
    from diffusers.pipelines.stable_audio import StableAudioProjectionModel
    text = _t5(s, d_model=768, d_ff=3072, heads=12, layers=12, gated=False)  # t5-base
    latent = s(64, 3)
    cond = s(768, 4)
    vae = AutoencoderOobleck(encoder_hidden_size=s(128, 6), downsampling_ratios=s([2, 4, 4, 8, 8], [4, 8]),
                             channel_multiples=s([1, 2, 4, 8, 16], [2, 4]), decoder_channels=s(128, 3),
                             decoder_input_channels=latent, audio_channels=2,
                             sampling_rate=int(s(44100, TINY_DEFAULTS["StableAudioPipeline"]["sample_rate"])))
    transformer = StableAudioDiTModel(
        sample_size=s(1024, 128), in_channels=latent, out_channels=latent, num_layers=s(24, 2),
        attention_head_dim=s(64, 4), num_attention_heads=s(24, 2), num_key_value_attention_heads=s(12, 2),
        cross_attention_dim=cond, time_proj_dim=s(256, 8), global_states_input_dim=2 * cond,
        cross_attention_input_dim=cond)
    projection = StableAudioProjectionModel(text_encoder_dim=text.config.d_model, conditioning_dim=cond,
                                            min_value=0, max_value=512)
    scheduler = CosineDPMSolverMultistepScheduler(sigma_min=0.3, sigma_max=500.0, sigma_data=1.0,
                                                  sigma_schedule="exponential", solver_order=2,
                                                  prediction_type="v_prediction")
    return StableAudioPipeline(vae=vae, text_encoder=text, projection_model=projection,
                               tokenizer=t5_tokenizer(128), transformer=transformer, scheduler=scheduler)


def _audioldm2(p: Preset, s: _Size, folder):
    from diffusers import AudioLDM2Pipeline, DDIMScheduler
    from diffusers.pipelines.audioldm2 import AudioLDM2ProjectionModel, AudioLDM2UNet2DConditionModel
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2LMHeadModel,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
    )
    # CLAP (laion/clap-htsat-unfused: RoBERTa-base text, HTSAT-base audio), Flan-T5-large, GPT-2 base
    proj = s(512, 8)
    text_config = ClapTextConfig(vocab_size=s(50265, 100), hidden_size=s(768, 8), num_hidden_layers=s(12, 1),
                                 num_attention_heads=s(12, 1), intermediate_size=s(3072, 16),
                                 max_position_embeddings=s(514, 80), type_vocab_size=1, pad_token_id=1,
                                 bos_token_id=0, eos_token_id=2, projection_dim=proj)
    audio_config = ClapAudioConfig(
        spec_size=s(256, 8), window_size=s(8, 4), num_mel_bins=s(64, 8), hidden_size=s(768, 16),
        depths=s([2, 2, 6, 2], [1, 1]), num_attention_heads=s([4, 8, 16, 32], [1, 1]),
        patch_embeds_hidden_size=s(96, 8), projection_dim=proj,
        patch_size=s(4, 2), patch_stride=s(4, 2), patch_embed_input_channels=s(1, 4), enable_fusion=False)
    clap = ClapModel(ClapConfig(text_config=text_config.to_dict(), audio_config=audio_config.to_dict(),
                                projection_dim=proj))
    t5 = _t5(s, d_model=1024, d_ff=2816, heads=16, layers=24, gated=True)  # flan-t5-large
    # the repo saves a GPT2Model; diffusers generates with its LM-head class (the head is tied: no weights)
    lm = GPT2LMHeadModel(GPT2Config(n_embd=s(768, 16), n_layer=s(12, 1), n_head=s(12, 2), vocab_size=s(50257, 100),
                              n_positions=s(1024, 64), bos_token_id=0, eos_token_id=2))
    lm.config.max_new_tokens = s(8, 4)
    lm_dim, t5_dim = lm.config.n_embd, t5.config.d_model
    projection = AudioLDM2ProjectionModel(text_encoder_dim=proj, text_encoder_1_dim=t5_dim, langauge_model_dim=lm_dim)
    blocks = s((128, 256, 384, 640), (8, 16, 16, 16))
    unet = AudioLDM2UNet2DConditionModel(
        sample_size=s(256, 32), in_channels=8, out_channels=8, layers_per_block=s(2, 1), block_out_channels=blocks,
        attention_head_dim=s(8, 2), norm_num_groups=s(32, 4),
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 3,
        up_block_types=("CrossAttnUpBlock2D",) * 3 + ("UpBlock2D",),
        cross_attention_dim=[[None, lm_dim, t5_dim]] * len(blocks))
    mel = s(64, 8)
    vae = _sd_vae(s, blocks=3, latent=8, in_channels=1, out_channels=1, sample_size=s(1024, 32),
                  scaling_factor=0.4110932946205139)
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=mel, sampling_rate=16000, upsample_initial_channel=s(1024, 16),
        upsample_rates=s([5, 4, 2, 2, 2], [8, 8]), upsample_kernel_sizes=s([16, 16, 8, 4, 4], [16, 16]),
        resblock_kernel_sizes=s([3, 7, 11], [3]), resblock_dilation_sizes=s([[1, 3, 5]] * 3, [[1, 3]]),
        normalize_before=False))
    features = ClapFeatureExtractor(feature_size=s(64, 8), sampling_rate=s(48000, 16000), hop_length=s(480, 160))
    scheduler = DDIMScheduler(beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    return AudioLDM2Pipeline(vae=vae, text_encoder=clap, text_encoder_2=t5, projection_model=projection,
                             language_model=lm, tokenizer=roberta_tokenizer(), tokenizer_2=t5_tokenizer(128),
                             feature_extractor=features, unet=unet, scheduler=scheduler, vocoder=vocoder)


def _vits(p: Preset, s: _Size, folder):
    """VITS as MMS-TTS and VITS LJ Speech have it (the transformers defaults are MMS-TTS-eng's); the
    tokenizer reads characters (no phonemizer), from a vocab.json in ``folder``."""
    from transformers import VitsConfig, VitsModel, VitsTokenizer
    lj = p.id == "vits-ljs"
    symbols = "_ '-\u2013abcdefghijklmnopqrstuvwxyz0123456"  # mms-tts-eng's 38 symbols
    vocab = {"<pad>": 0, "<unk>": 1} if s.tiny else {}
    for c in symbols if not s.tiny else "abcdefghijklmnopqrstuvwxyz '-.,!?":
        vocab.setdefault(c, len(vocab))
    rate = int(p.default("sample_rate", 16000))
    if s.tiny:
        config = VitsConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                            ffn_dim=32, flow_size=8, spectrogram_bins=9, upsample_initial_channel=16,
                            upsample_rates=[8, 8], upsample_kernel_sizes=[16, 16], resblock_kernel_sizes=[3],
                            resblock_dilation_sizes=[[1, 3]], duration_predictor_filter_channels=16,
                            duration_predictor_num_flows=2, prior_encoder_num_flows=2,
                            prior_encoder_num_wavenet_layers=2, posterior_encoder_num_wavenet_layers=2,
                            depth_separable_num_layers=2, sampling_rate=rate)
    else:  # 192 wide, 6 text-encoder layers, HiFi-GAN ×256 upsampling; LJ Speech reads 178 phoneme symbols
        config = VitsConfig(vocab_size=178 if lj else len(vocab), sampling_rate=rate)
    model = VitsModel(config)
    tmp = None
    if folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="reelgraph-vits-")
        folder = tmp.name
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / "vocab.json"
    path.write_text(json.dumps(vocab), encoding="utf-8")
    pad = "<pad>" if s.tiny else "_"
    tokenizer = VitsTokenizer(str(path), pad_token=pad, unk_token="<unk>",
                              phonemize=False, normalize=True, add_blank=True)
    if tmp is not None:
        tmp.cleanup()
    return {"model": model, "tokenizer": tokenizer}


def _qwen(p: Preset, s: _Size, folder):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    tok = qwen_tokenizer()
    big = "7b" in p.id
    eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    shape: dict[str, Any]
    if s.tiny:
        shape = dict(vocab_size=len(tok) + 64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    elif big:  # Qwen2.5-7B: 28 layers, 3584 wide, GQA 28/4 heads, untied 152064-token output layer
        shape = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                     num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False)
    else:  # Qwen2.5-1.5B: 28 layers, 1536 wide, GQA 12/2 heads, tied 151936-token embeddings
        shape = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                     num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True)
    config = Qwen2Config(**shape, max_position_embeddings=32768, rms_norm_eps=1e-6,
                         rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                         eos_token_id=eos, pad_token_id=pad, bos_token_id=None)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    return {"model": model, "tokenizer": tok}


_BUILDERS: dict[str, Callable[[Preset, _Size, Any], Any]] = {
    "StableDiffusionPipeline": _stable_diffusion,
    "StableDiffusionXLPipeline": _stable_diffusion_xl,
    "FluxPipeline": _flux,
    "StableVideoDiffusionPipeline": _svd,
    "LTXImageToVideoPipeline": _ltx,
    "WanImageToVideoPipeline": _wan,
    "StableDiffusionUpscalePipeline": _upscaler,
    "StableAudioPipeline": _stable_audio,
    "AudioLDM2Pipeline": _audioldm2,
    "VitsModel": _vits,
    "AutoModelForCausalLM": _qwen,
}
