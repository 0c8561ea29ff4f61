"""The entity recogniser's token encoder as one function, for a sentence at a time.

spaCy's small English recogniser embeds its own tokens: four hashed embeddings (NORM, PREFIX, SUFFIX, SHAPE),
a maxout layer with layer normalisation, four residual convolutions of window one, and a linear projection.
thinc runs them as a tree of some sixty layer objects whose calls build closures for training, and multiplies
through blis, which on a processor it does not recognise (AMD Zen 4 here) picks its reference kernel. For one
sentence that bookkeeping and that kernel cost more than the arithmetic. `fast_encoder` reads the same weights
once, transposed for numpy's BLAS (one thread: a sentence's matrices are too small to share), and computes the
same function, step for step. The recogniser keeps its transition loop; only its encoder is swapped, and only
when the model has the shape this reads and the swap gives the library's vectors on a probe sentence (`_PROBE`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.pii.blas import OneThread

_COLUMNS = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
_LAYERS = 5  # the embedding's maxout, then the four convolutions
_PROBE = "Dear Ms. Weronika Martinsen, your parcel left Rovaniemi on 3 May for 12 Hauptstrasse, Berlin."
# Float sums in another order (numpy's BLAS against blis) differ in the last bits, never by this much.
_TOLERANCE = 1e-3


def fast_encoder(nlp: Any) -> Any | None:
    """A thinc layer computing the encoder of `nlp`'s recogniser (`ner.model.layers[0]`) for inference, or None
    when that layer is not the one this reads (another architecture, width or window) or gives other vectors."""
    import numpy
    from thinc.api import Model

    encoder = nlp.get_pipe("ner").model.layers[0]
    nodes = list(encoder.walk())
    by_name: dict[str, list[Any]] = {}
    for node in nodes:
        by_name.setdefault(node.name, []).append(node)
    features = by_name.get("extract_features", [])
    embeds = by_name.get("hashembed", [])
    maxouts, norms, linears = by_name.get("maxout", []), by_name.get("layernorm", []), by_name.get("linear", [])
    windows = by_name.get("expand_window", [])
    if (
        len(features) != 1
        or features[0].attrs["columns"] != _COLUMNS
        or [e.attrs["column"] for e in embeds] != list(range(len(_COLUMNS)))
        or (len(maxouts), len(norms), len(linears), len(windows)) != (_LAYERS, _LAYERS, 1, _LAYERS - 1)
        or any(w.attrs["window_size"] != 1 for w in windows)
        or by_name.get("static_vectors")
    ):
        return None
    ops = encoder.ops
    tables = [(e.get_param("E"), e.attrs["seed"]) for e in embeds]
    layers = [_maxout_norm(m, n, numpy) for m, n in zip(maxouts, norms, strict=True)]
    project_w = numpy.ascontiguousarray(linears[0].get_param("W").T)
    project_b = linears[0].get_param("b")
    one_thread = OneThread()
    pad = _LAYERS - 1  # the library pads each text by the convolutions' reach: the padding is computed on too

    def encode(docs: Sequence[Any]) -> Any:
        feats = [doc.to_array(_COLUMNS) for doc in docs if len(doc)]
        if not feats:
            return numpy.zeros((0, project_w.shape[1]), dtype="float32")
        columns = numpy.ascontiguousarray(numpy.concatenate(feats).T, dtype="uint64")
        embedded = [
            ops.gather_add(table, ops.hash(column, seed) % table.shape[0])
            for column, (table, seed) in zip(columns, tables, strict=True)
        ]
        # Each text's rows with `pad` rows of zeros before the first text and after every text, where thinc's
        # `with_array(pad=...)` puts them; empty texts have no rows (thinc's `flatten` drops them too).
        starts = numpy.cumsum([0] + [len(f) + pad for f in feats])[:-1] + pad
        rows = numpy.concatenate([numpy.arange(start, start + len(f)) for start, f in zip(starts, feats, strict=True)])
        with one_thread():
            embedded_rows = layers[0](numpy.hstack(embedded))
            vectors = numpy.zeros((int(starts[-1]) + len(feats[-1]) + pad, embedded_rows.shape[1]), dtype="float32")
            vectors[rows] = embedded_rows
            for layer in layers[1:]:
                vectors = vectors + layer(ops.seq2col(vectors, 1))
            out = vectors[rows] @ project_w
        out += project_b
        return out

    def forward(model: Any, docs: Sequence[Any], is_train: bool) -> tuple[Any, Callable[[Any], Any]]:
        if is_train:
            raise ValueError("the fast encoder only reads: train the library's layer")
        return encode(docs), _no_gradient

    fast: Any = Model("fast_tok2vec", forward)
    probe = [nlp.make_doc(_PROBE)]
    want = encoder.predict(probe)
    got = encode(probe)
    if got.shape != want.shape or not numpy.allclose(got, want, rtol=_TOLERANCE, atol=_TOLERANCE):
        return None
    return fast


def _maxout_norm(maxout: Any, norm: Any, numpy: Any) -> Callable[[Any], Any]:
    """thinc's `Maxout(normalize=True)` at inference: an affine map, the best of its pieces, layer norm."""
    n_out, pieces = maxout.get_dim("nO"), maxout.get_dim("nP")
    weights = numpy.ascontiguousarray(maxout.get_param("W").reshape(n_out * pieces, -1).T)
    bias = maxout.get_param("b").reshape(n_out * pieces)
    gain, shift = norm.get_param("G"), norm.get_param("b")
    ops = maxout.ops

    def apply(x: Any) -> Any:
        y = x @ weights
        y += bias
        best = ops.maxout(y.reshape(y.shape[0], n_out, pieces))[0]
        # numpy's `var` is this same mean of squared distances; the distances are kept for the scaling
        centred = best - best.mean(axis=1, keepdims=True)
        var = (centred * centred).mean(axis=1, keepdims=True) + 1e-08
        centred *= var ** (-1.0 / 2.0)
        centred *= gain
        centred += shift
        return centred

    return apply


def _no_gradient(d_output: Any) -> Any:
    raise ValueError("the fast encoder only reads")
