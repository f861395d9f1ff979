"""The frozen text side (reference-pipeline.md §7.3): the CLIP byte-level BPE tokenizer and the CLIP text encoder
(HF `CLIPTextModel` layout: `text_model.embeddings.*`, `text_model.encoder.layers.<i>.*`,
`text_model.final_layer_norm.*`), used once to embed the fixed prompt "A close up of a person.".

The tokenizer follows the same steps as our TypeScript one (src/kernel/diffusion/tokenizer.ts): html-unescape
twice, collapse whitespace, lower case, CLIP's split pattern, bytes → GPT-2 byte symbols, BPE by merge rank, BOS +
tokens + EOS padded with the pad token to 77. `tiny_bpe_files` builds a small vocabulary in the real file format that
covers given words, for the small config's own base model.
"""
import html
import json
import os
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

PROMPT = "A close up of a person."
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
_MAX_MERGES = 49152 - 256 - 2
_PAT = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+", re.IGNORECASE)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class ClipTokenizer:
    def __init__(self, vocab, merges, pad_token=EOS):
        self.vocab = vocab
        self.ranks = {}
        for i, m in enumerate(merges[:_MAX_MERGES]):
            self.ranks.setdefault(tuple(m.split(" ")), i)
        self.byte_sym = bytes_to_unicode()
        for t in (BOS, EOS, pad_token):
            if t not in vocab:
                raise ValueError(f"tokenizer vocabulary has no '{t}' token")
        self.bos, self.eos, self.pad = vocab[BOS], vocab[EOS], vocab[pad_token]

    @classmethod
    def from_dir(cls, d):
        for n in ("vocab.json", "merges.txt"):
            if not os.path.exists(os.path.join(d, n)):
                raise FileNotFoundError(f"tokenizer folder {d} has no {n}")
        with open(os.path.join(d, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        with open(os.path.join(d, "merges.txt"), encoding="utf-8") as f:
            lines = [l for l in f.read().replace("\r", "").split("\n")]
        if lines and lines[0].startswith("#version"):
            lines = lines[1:]
        pad = EOS
        sp = os.path.join(d, "special_tokens_map.json")
        if os.path.exists(sp):
            with open(sp, encoding="utf-8") as f:
                p = json.load(f).get("pad_token", EOS)
            pad = p if isinstance(p, str) else p.get("content", EOS)
        return cls(vocab, [l for l in lines if l], pad)

    def bpe(self, piece):
        word = list(piece[:-1]) + [piece[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(self.ranks.get((word[i], word[i + 1]), None), i) for i in range(len(word) - 1)]
            pairs = [p for p in pairs if p[0] is not None]
            if not pairs:
                break
            _, best = min(pairs)
            a, b = word[best], word[best + 1]
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        return word

    def encode(self, text, max_length=77):
        clean = re.sub(r"\s+", " ", html.unescape(html.unescape(text))).strip().lower()
        ids = []
        for m in _PAT.findall(clean):
            if m in (BOS, EOS):
                ids.append(self.vocab[m])
                continue
            sym = "".join(self.byte_sym[b] for b in m.encode("utf-8"))
            for t in self.bpe(sym):
                if t not in self.vocab:
                    raise ValueError(f"BPE produced '{t}', which is not in the vocabulary (vocab.json and merges.txt do not match)")
                ids.append(self.vocab[t])
        ids = [self.bos] + ids[: max_length - 2] + [self.eos]
        return ids + [self.pad] * (max_length - len(ids))


def tiny_bpe_files(words):
    """A CLIP-format vocabulary (256 byte symbols, the same with '</w>', one token per merge, the two specials) whose
    merges build each given word left to right, so each word is one token. Returns (vocab dict, merges list)."""
    syms = list(bytes_to_unicode().values())
    merges = []
    for w in words:
        s = "".join(bytes_to_unicode()[b] for b in w.encode("utf-8"))
        if len(s) < 2:
            continue
        cur = s[0]
        for i, ch in enumerate(s[1:], 1):
            nxt = ch + ("</w>" if i == len(s) - 1 else "")
            m = f"{cur} {nxt}"
            if m not in merges:
                merges.append(m)
            cur = cur + nxt
    vocab = syms + [s + "</w>" for s in syms] + ["".join(m.split(" ")) for m in merges] + [BOS, EOS]
    return {t: i for i, t in enumerate(vocab)}, merges


class CLIPAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        n, t, d = x.shape
        h = self.heads
        sp = lambda v: v.reshape(n, t, h, d // h).transpose(1, 2)
        q = sp(self.q_proj(x) * (d // h) ** -0.5)
        a = torch.softmax(q @ sp(self.k_proj(x)).transpose(-1, -2) + mask, dim=-1) @ sp(self.v_proj(x))
        return self.out_proj(a.transpose(1, 2).reshape(n, t, d))


class CLIPMLP(nn.Module):
    def __init__(self, d, f, act):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(d, f), nn.Linear(f, d), act

    def forward(self, x):
        y = self.fc1(x)
        y = y * torch.sigmoid(1.702 * y) if self.act == "quick_gelu" else F.gelu(y)
        return self.fc2(y)


class CLIPEncoderLayer(nn.Module):
    def __init__(self, d, f, heads, eps, act):
        super().__init__()
        self.self_attn = CLIPAttention(d, heads)
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.mlp = CLIPMLP(d, f, act)
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class _NS(nn.Module):
    pass


class CLIPTextModel(nn.Module):
    """`last_hidden_state` (after final_layer_norm) of a token-id batch (N, T); causal mask, no padding mask."""

    def __init__(self, cfg):
        super().__init__()
        self.config = dict(cfg)
        d, f = int(cfg["hidden_size"]), int(cfg["intermediate_size"])
        eps = float(cfg.get("layer_norm_eps", 1e-5))
        act = cfg.get("hidden_act", "quick_gelu")
        if act not in ("quick_gelu", "gelu"):
            raise ValueError(f"text encoder hidden_act '{act}' is not supported (quick_gelu, gelu)")
        tm = _NS()
        tm.embeddings = _NS()
        tm.embeddings.token_embedding = nn.Embedding(int(cfg["vocab_size"]), d)
        tm.embeddings.position_embedding = nn.Embedding(int(cfg.get("max_position_embeddings", 77)), d)
        tm.encoder = _NS()
        tm.encoder.layers = nn.ModuleList([CLIPEncoderLayer(d, f, int(cfg["num_attention_heads"]), eps, act)
                                           for _ in range(int(cfg["num_hidden_layers"]))])
        tm.final_layer_norm = nn.LayerNorm(d, eps=eps)
        self.text_model = tm

    def forward(self, ids):
        tm = self.text_model
        t = ids.shape[1]
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[:t][None]
        mask = torch.full((t, t), float("-inf"), device=x.device).triu(1)
        for layer in tm.encoder.layers:
            x = layer(x, mask)
        return tm.final_layer_norm(x)


# SD 1.5's text_encoder/config.json values (the ViT-L/14 text tower)
SD15_TEXT_CONFIG = {"architectures": ["CLIPTextModel"], "hidden_size": 768, "intermediate_size": 3072,
                    "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 77,
                    "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "vocab_size": 49408}
