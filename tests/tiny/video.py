"""Tiny random image-to-video pipelines: Stable Video Diffusion, LTX-Video and Wan 2.1 i2v.

Each builder makes a pipeline a few layers deep from configs (tokenizers in memory, nothing
downloaded), ``save_pretrained``s it into ``folder`` and writes ``reelgraph.json`` beside it: the
native render settings of such a tiny model (64 px, a few frames), read by the video nodes where
a real model's preset would give them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# SVD's pipeline resizes its conditioning image to 224×224 before the CLIP image encoder
_SVD_ENCODER_SIZE = 224


def _defaults(folder: Path, **values) -> None:
    (folder / "reelgraph.json").write_text(json.dumps({"defaults": values}, indent=1))


def _t5(d_model: int = 32):
    """A two-layer T5 encoder and a T5 tokenizer over a small letters-and-words vocabulary."""
    from transformers import T5Config, T5EncoderModel, T5Tokenizer
    words = ["▁" + c for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    words += ["▁a", "▁the", "▁slow", "▁push", "▁in", "▁pan", "▁left", "▁right", "▁camera", "▁motion"]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(w, -3.0 - 0.01 * i) for i, w in enumerate(dict.fromkeys(words))]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=64)
    config = T5Config(vocab_size=len(vocab), d_model=d_model, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
                      decoder_start_token_id=0)
    return T5EncoderModel(config).eval(), tokenizer


def build_svd(folder: str | os.PathLike) -> Path:
    """A tiny StableVideoDiffusionPipeline (64 px, up to 6 frames at 8 fps)."""
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection
    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=16, in_channels=8, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32, num_attention_heads=(2, 4), addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=24, num_frames=6)
    # 8× down like the real VAE, so the UNet works on 8×8-ish latents
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=(32, 32, 32, 32), in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37,
        image_size=_SVD_ENCODER_SIZE, patch_size=32))
    scheduler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
        steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True)
    extractor = CLIPImageProcessor(crop_size=_SVD_ENCODER_SIZE, size=_SVD_ENCODER_SIZE)
    pipe = StableVideoDiffusionPipeline(vae=vae.eval(), image_encoder=encoder.eval(), unet=unet.eval(),
                                        scheduler=scheduler, feature_extractor=extractor)
    folder = Path(folder)
    pipe.save_pretrained(folder)
    _defaults(folder, steps=2, frames=6, fps=8, width=64, height=64, multiple=16, frame_step=1,
              decode_chunk_size=6)
    return folder


def build_ltx(folder: str | os.PathLike) -> Path:
    """A tiny LTXImageToVideoPipeline (64 px, up to 9 frames (4n+1) at 8 fps)."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
        attention_head_dim=8, cross_attention_dim=32, num_layers=1, caption_channels=32)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False)
    text_encoder, tokenizer = _t5(32)
    pipe = LTXImageToVideoPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae.eval(),
                                   text_encoder=text_encoder, tokenizer=tokenizer,
                                   transformer=transformer.eval())
    folder = Path(folder)
    pipe.save_pretrained(folder)
    _defaults(folder, steps=2, frames=9, fps=8, width=64, height=64, multiple=32, frame_step=4,
              guidance=1.0, max_sequence_length=64)
    return folder


def build_wan(folder: str | os.PathLike, *, last_frame: bool = False) -> Path:
    """A tiny WanImageToVideoPipeline (32 px, up to 9 frames (4n+1) at 8 fps). ``last_frame``: a
    first-and-last-frame model (FLF2V), whose transformer takes both images' embeddings."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanImageToVideoPipeline,
        WanTransformer3DModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    text_encoder, tokenizer = _t5(32)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, image_dim=4,
        # FLF2V: two images' CLIP tokens (8×8 patches + the class token each), position-embedded
        pos_embed_seq_len=2 * (8 * 8 + 1) if last_frame else None)
    encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=32,
        intermediate_size=16, patch_size=4))
    processor = CLIPImageProcessor(crop_size=32, size=32, do_center_crop=True, do_normalize=True,
                                   do_resize=True, resample=3)
    pipe = WanImageToVideoPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae.eval(),
                                   scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
                                   image_processor=processor, image_encoder=encoder.eval(),
                                   transformer=transformer.eval())
    folder = Path(folder)
    pipe.save_pretrained(folder)
    _defaults(folder, steps=2, frames=9, fps=8, width=32, height=32, multiple=16, frame_step=4,
              guidance=1.0, max_sequence_length=64)
    return folder
