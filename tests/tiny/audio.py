"""Tiny random audio models: Stable Audio Open and AudioLDM2 pipelines (diffusers), a VITS
text-to-speech model with its tokenizer (transformers).

Each builder makes the model from configs a few layers deep, with tokenizers built in memory (the
VITS tokenizer reads a vocab.json written next to the weights), and ``save_pretrained``s it into
``folder``, which it returns. Sample rates are low so that one call covers useful lengths cheaply.
"""

from __future__ import annotations

import json
from pathlib import Path

CHARS = "abcdefghijklmnopqrstuvwxyz0123456789,.!?'-"

# Stable Audio: 4 kHz, a hop of 32 samples per latent frame, 128 frames: 1.024 s per call at most
STABLE_AUDIO_RATE = 4000
STABLE_AUDIO_MAX_SECONDS = 128 * 32 / STABLE_AUDIO_RATE


def _t5_tokenizer():
    from transformers import T5Tokenizer
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [(c, -3.0) for c in CHARS] + [("\u2581" + c, -3.5) for c in CHARS[:26]]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=32)


def stable_audio(folder: str | Path) -> Path:
    """A StableAudioPipeline: 4 kHz stereo, at most ``STABLE_AUDIO_MAX_SECONDS`` per call."""
    import torch
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
    )
    from diffusers.pipelines.stable_audio import StableAudioProjectionModel
    from transformers import T5Config, T5EncoderModel
    torch.manual_seed(0)
    transformer = StableAudioDiTModel(sample_size=128, in_channels=3, num_layers=2, attention_head_dim=4,
                                      num_attention_heads=2, num_key_value_attention_heads=2, out_channels=3,
                                      cross_attention_dim=4, time_proj_dim=8, global_states_input_dim=8,
                                      cross_attention_input_dim=4)
    vae = AutoencoderOobleck(encoder_hidden_size=6, downsampling_ratios=[4, 8], decoder_channels=3,
                             decoder_input_channels=3, audio_channels=2, channel_multiples=[2, 4],
                             sampling_rate=STABLE_AUDIO_RATE)
    scheduler = CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction",
                                                  sigma_data=1.0, sigma_schedule="exponential")
    text_encoder = T5EncoderModel(T5Config(vocab_size=128, d_model=16, d_ff=32, d_kv=8, num_heads=2,
                                           num_layers=2))
    projection = StableAudioProjectionModel(text_encoder_dim=16, conditioning_dim=4, min_value=0,
                                            max_value=64)
    pipe = StableAudioPipeline(vae=vae, text_encoder=text_encoder, projection_model=projection,
                               tokenizer=_t5_tokenizer(), transformer=transformer, scheduler=scheduler)
    folder = Path(folder)
    pipe.save_pretrained(folder)
    return folder


def audioldm2(folder: str | Path) -> Path:
    """An AudioLDM2Pipeline: 16 kHz mono (the vocoder makes 64 samples per spectrogram frame)."""
    import torch
    from diffusers import AudioLDM2Pipeline, AutoencoderKL, DDIMScheduler
    from diffusers.pipelines.audioldm2 import AudioLDM2ProjectionModel, AudioLDM2UNet2DConditionModel
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2LMHeadModel,
        RobertaTokenizer,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
    )
    torch.manual_seed(0)
    # every conditioning width is 16, so the UNet's two cross-attentions take either stream
    unet = AudioLDM2UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=8,
                                         sample_size=32, in_channels=4, out_channels=4,
                                         down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                         up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                         cross_attention_dim=([16, 16], [16, 16]))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False)
    vae = AutoencoderKL(block_out_channels=[8, 16], in_channels=1, out_channels=1, norm_num_groups=8,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4)
    text = ClapTextConfig(bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=8, intermediate_size=16,
                          num_attention_heads=1, num_hidden_layers=1, vocab_size=100, projection_dim=8)
    audio = ClapAudioConfig(spec_size=8, window_size=4, num_mel_bins=8, intermediate_size=16, depths=[1, 1],
                            num_attention_heads=[1, 1], num_hidden_layers=1, hidden_size=16, projection_dim=8,
                            patch_size=2, patch_stride=2, patch_embed_input_channels=4)
    clap = ClapModel(ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=8))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for c in CHARS + "\u0120":  # Ġ: byte-level BPE's space
        vocab.setdefault(c, len(vocab))
    tokenizer = RobertaTokenizer(vocab=vocab, merges=[], model_max_length=32)
    t5 = T5EncoderModel(T5Config(vocab_size=128, d_model=16, d_ff=32, d_kv=8, num_heads=2, num_layers=2))
    lm = GPT2LMHeadModel(GPT2Config(n_embd=16, n_head=2, n_layer=1, vocab_size=100, n_ctx=64, n_positions=64,
                                    bos_token_id=0, eos_token_id=2))
    lm.config.max_new_tokens = 4
    projection = AudioLDM2ProjectionModel(text_encoder_dim=8, text_encoder_1_dim=16, langauge_model_dim=16)
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=8, sampling_rate=16000, upsample_initial_channel=16, upsample_rates=[8, 8],
        upsample_kernel_sizes=[16, 16], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        normalize_before=False))
    features = ClapFeatureExtractor(feature_size=8, sampling_rate=16000, hop_length=160)
    pipe = AudioLDM2Pipeline(vae=vae, text_encoder=clap, text_encoder_2=t5, projection_model=projection,
                             language_model=lm, tokenizer=tokenizer, tokenizer_2=_t5_tokenizer(),
                             feature_extractor=features, unet=unet, scheduler=scheduler, vocoder=vocoder)
    folder = Path(folder)
    pipe.save_pretrained(folder)
    return folder


def vits(folder: str | Path, sampling_rate: int = 16000) -> Path:
    """A VitsModel and its VitsTokenizer (letters and punctuation, no digits, no phonemizer: as
    MMS-TTS's English tokenizer)."""
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer
    torch.manual_seed(0)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "<unk>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz '-.,!?":
        vocab.setdefault(c, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = VitsTokenizer(str(folder / "vocab.json"), phonemize=False, normalize=True, add_blank=True)
    config = VitsConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        ffn_dim=32, flow_size=8, spectrogram_bins=9, upsample_initial_channel=16,
                        upsample_rates=[8, 8], upsample_kernel_sizes=[16, 16], resblock_kernel_sizes=[3],
                        resblock_dilation_sizes=[[1, 3]], duration_predictor_filter_channels=16,
                        duration_predictor_num_flows=2, prior_encoder_num_flows=2,
                        prior_encoder_num_wavenet_layers=2, posterior_encoder_num_wavenet_layers=2,
                        depth_separable_num_layers=2, sampling_rate=sampling_rate)
    model = VitsModel(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
