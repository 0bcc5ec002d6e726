import numpy as np
import torch


def test_tiny_qwen_loads_with_single_digit_tokens(tiny_qwen_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen_dir)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    ids = [tok.encode(str(d), add_special_tokens=False) for d in range(1, 6)]
    assert all(len(i) == 1 for i in ids) and len({i[0] for i in ids}) == 5
    assert tok.tokenize("정답: 3")[-1] == "3"
    text = tok.apply_chat_template([{"role": "user", "content": "질문"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    enc = tok("대한민국의 수도는 서울이다", return_tensors="pt")
    assert tok.decode(enc["input_ids"][0]) == "대한민국의 수도는 서울이다"
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (1, enc["input_ids"].shape[1], len(tok))


def test_tiny_encoder_encodes_korean(tiny_encoder_dir):
    from sentence_transformers import SentenceTransformer

    enc = SentenceTransformer(str(tiny_encoder_dir), device="cpu")
    assert "[UNK]" not in enc.tokenizer.tokenize("대한민국의 수도는 서울이다")
    v = enc.encode(["대한민국의 수도", "조선 후기의 붕당 정치"], normalize_embeddings=True)
    assert v.shape == (2, 32)
    np.testing.assert_allclose((v ** 2).sum(1), 1.0, rtol=1e-5)
