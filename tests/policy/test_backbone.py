import torch

from vla.policy.backbone import IMAGE_TOKEN, load_backbone, n_image_tokens


def test_tiny_backbone_round_trips_through_from_pretrained(backbone_dir):
    a, tok_a = load_backbone(backbone_dir)
    b, tok_b = load_backbone(backbone_dir)
    assert type(a).__name__ == "SmolVLMModel"
    assert n_image_tokens(a.config) == 16
    assert a.config.image_token_id == tok_a.convert_tokens_to_ids(IMAGE_TOKEN)
    assert tok_a("push the puck")["input_ids"] == tok_b("push the puck")["input_ids"]
    ids = torch.tensor([[a.config.image_token_id] * 16 + tok_a("reach the goal")["input_ids"]])
    pixels = torch.rand(1, 1, 3, 64, 64)
    with torch.no_grad():
        ha = a(input_ids=ids, pixel_values=pixels).last_hidden_state
        hb = b(input_ids=ids, pixel_values=pixels).last_hidden_state
    assert ha.shape == (1, ids.shape[1], a.config.text_config.hidden_size)
    assert torch.equal(ha, hb)


def test_tokenizer_knows_instruction_words(backbone_dir):
    _, tok = load_backbone(backbone_dir)
    ids = tok("push the puck to the goal", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
