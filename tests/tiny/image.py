"""Tiny random image pipelines: Stable Diffusion and SDXL text-to-image, the SD ×4 upscaler, FLUX.

Each builder makes a pipeline a few layers deep from configs (seeded, so two builds are equal),
with its tokenizers made in memory, and ``save_pretrained``s it into ``folder``. The real loaders and
pipeline code then run on the CPU in milliseconds per step. Their native sizes are tiny: the SD
model's is 32 px (sample size 4 at the real VAE factor 8, so the latent geometry is SD's), the
upscaler keeps the real ×4.
"""

from __future__ import annotations

import os
from pathlib import Path

_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"


def clip_tokenizer():
    """A character-level CLIP tokenizer (no merges): every prompt tokenizes, nothing is downloaded."""
    from transformers import CLIPTokenizer
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in _CHARS:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def clip_text_encoder(hidden: int = 16):
    from transformers import CLIPTextConfig, CLIPTextModel
    return CLIPTextModel(CLIPTextConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_attention_heads=2,
                                        num_hidden_layers=2, vocab_size=1000, projection_dim=hidden,
                                        max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                                        pad_token_id=1)).eval()


def _vae(blocks: int, channels: int = 8, latent: int = 4):
    from diffusers import AutoencoderKL
    # no attention in the VAE's middle: at 512 px its token count would make the tiny model slow
    return AutoencoderKL(block_out_channels=(channels,) * blocks, in_channels=3, out_channels=3,
                         down_block_types=("DownEncoderBlock2D",) * blocks,
                         up_block_types=("UpDecoderBlock2D",) * blocks, latent_channels=latent,
                         norm_num_groups=4, layers_per_block=1, sample_size=32,
                         mid_block_add_attention=False).eval()


def build_sd(folder: str | os.PathLike) -> Path:
    """A tiny StableDiffusionPipeline (Euler, trailing spacing like sd-turbo); native size 32 px."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=4, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                norm_num_groups=4, attention_head_dim=4).eval()
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   timestep_spacing="trailing", steps_offset=1)
    pipe = StableDiffusionPipeline(vae=_vae(4), text_encoder=clip_text_encoder(), tokenizer=clip_tokenizer(),
                                   unet=unet, scheduler=sched, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return Path(folder)


def build_sdxl(folder: str | os.PathLike) -> Path:
    """A tiny StableDiffusionXLPipeline: two CLIP text encoders (their hidden states concatenated
    for cross-attention, the second's projection plus six size/crop ids as the added embedding)."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=4, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=4, attention_head_dim=4, use_linear_projection=True,
                                addition_embed_type="text_time", addition_time_embed_dim=8,
                                projection_class_embeddings_input_dim=6 * 8 + 16).eval()
    encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(
        hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2, vocab_size=1000,
        projection_dim=16, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1)).eval()
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   timestep_spacing="trailing", steps_offset=1)
    pipe = StableDiffusionXLPipeline(vae=_vae(4), text_encoder=clip_text_encoder(), text_encoder_2=encoder_2,
                                     tokenizer=clip_tokenizer(), tokenizer_2=clip_tokenizer(), unet=unet,
                                     scheduler=sched, add_watermarker=False)
    pipe.save_pretrained(folder)
    return Path(folder)


def build_upscaler(folder: str | os.PathLike) -> Path:
    """A tiny StableDiffusionUpscalePipeline: a ×4 VAE (3 blocks) and a UNet fed 4 latent + 3 image
    channels, conditioned on the noise level as the real one is (the prompt goes unused)."""
    import torch
    from diffusers import DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline, UNet2DConditionModel
    torch.manual_seed(0)
    # no attention at all: tiles are up to 128 px, where even a tiny self-attention costs seconds a step
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=7,
                                out_channels=4, down_block_types=("DownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "UpBlock2D"), mid_block_type=None,
                                cross_attention_dim=16, norm_num_groups=4, num_class_embeds=1000).eval()
    vae = _vae(3)
    vae.register_to_config(scaling_factor=0.08333)
    pipe = StableDiffusionUpscalePipeline(
        vae=vae, text_encoder=clip_text_encoder(), tokenizer=clip_tokenizer(), unet=unet,
        low_res_scheduler=DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.0001, beta_end=0.02),
        scheduler=DDIMScheduler(prediction_type="v_prediction", beta_schedule="scaled_linear",
                                beta_start=0.00085, beta_end=0.012),
        safety_checker=None, feature_extractor=None, watermarker=None, max_noise_level=350)
    pipe.save_pretrained(folder)
    return Path(folder)


def t5_tokenizer():
    """A T5 (unigram) tokenizer over single characters, built in memory."""
    from transformers import T5TokenizerFast
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    vocab += [(c, -2.0) for c in _CHARS] + [("▁" + c, -1.5) for c in _CHARS]
    return T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=512)


def build_flux(folder: str | os.PathLike) -> Path:
    """A tiny FluxPipeline (one double and one single transformer block, 2-layer T5 and CLIP)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                         attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
                                         pooled_projection_dim=16, axes_dims_rope=(2, 2, 4)).eval()
    t5 = T5EncoderModel(T5Config(vocab_size=200, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                                 relative_attention_num_buckets=8, decoder_start_token_id=0,
                                 pad_token_id=0, eos_token_id=1)).eval()
    from diffusers import AutoencoderKL
    vae = AutoencoderKL(block_out_channels=(8,) * 4, in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        latent_channels=4, norm_num_groups=4, layers_per_block=1, sample_size=32,
                        use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
                        scaling_factor=1.5035, mid_block_add_attention=False).eval()
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
                        text_encoder=clip_text_encoder(), tokenizer=clip_tokenizer(), text_encoder_2=t5,
                        tokenizer_2=t5_tokenizer(), transformer=transformer)
    pipe.save_pretrained(folder)
    return Path(folder)
