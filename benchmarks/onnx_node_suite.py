"""Run ONNX's backend node test cases (``onnx.backend.test.case.node``) through corefw-onnx.

Usage: ``python3 benchmarks/onnx_node_suite.py [--device cpu] [--ops Add,Conv] [--json F]``.
Prints, per operator, how many cases pass, fail or are unsupported, and the pass rate over the
supported cases (pass + fail). ``--markdown`` also prints docs/onnx.md's list of unsupported
operators and refused attribute values, with the reasons in :data:`WHY`. Results with the
machine are in docs/onnx.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import time
import warnings

#: Why corefw-onnx does not implement an operator (the --markdown list), by group.
WHY = {
    "random (a runtime's random stream cannot be reproduced)": (
        "Bernoulli", "RandomUniformLike", "RandomNormalLike", "RandomUniform", "RandomNormal",
        "Multinomial"),
    "quantization: corefw has no quantized dtypes": (
        "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv",
        "QLinearMatMul", "ConvInteger", "MatMulInteger"),
    "sequences and optionals: corefw has no sequence or optional values": (
        "OptionalHasElement", "OptionalGetElement", "SequenceInsert", "SequenceMap",
        "SplitToSequence", "ConcatFromSequence"),
    "bit-level integer operators on dtypes corefw lacks (uint16/32/64) or reinterpretation": (
        "BitShift", "BitCast"),
    "signal processing and images (complex values, codecs: no corefw op)": (
        "DFT", "STFT", "BlackmanWindow", "HammingWindow", "HannWindow", "MelWeightMatrix",
        "ImageDecoder"),
    "data-dependent detection ops without a corefw counterpart (not written yet)": (
        "NonMaxSuppression", "RoiAlign", "DeformConv", "Unique", "Col2Im", "CenterCropPad",
        "AffineGrid", "Det", "TfIdfVectorizer"),
    "operators newer than opset 23 (preview attention and state ops, not written yet)": (
        "LinearAttention", "CausalConvWithState", "RotaryEmbedding", "TensorScatter",
        "SwiGLU", "FlexAttention"),
    "deprecated (opset 1-10 Scatter; use ScatterElements)": ("Scatter",),
}


def markdown(results: dict) -> str:
    """docs/onnx.md's lists: unsupported operators with case counts and reasons, attribute
    values refused, and how many cases need a dtype corefw lacks."""
    import re
    import textwrap

    ops: collections.Counter = collections.Counter()
    refused: collections.Counter = collections.Counter()
    dtypes: collections.Counter = collections.Counter()
    for r in results.values():
        if r["status"] != "unsupported":
            continue
        d = r["detail"]
        m = re.search(r"ONNX operator '(\w+)' is not supported", d)
        if m:
            ops[m.group(1)] += 1
        elif d.startswith("dtype"):
            dtypes[d.split()[1]] += 1
        elif "domain" in d:
            dtypes["(another operator domain)"] += 1
        else:
            refused[f"{r['op']}: {d.split(': ', 1)[-1].replace(' by corefw-onnx', '')}"] += 1
    where = {op: why for why, names in WHY.items() for op in names}
    lines = ["Operators not implemented (cases in the suite), and why:", ""]
    for why in list(WHY) + ["not classified"]:
        names = sorted(o for o in ops if where.get(o, "not classified") == why)
        if names:
            lines.append(textwrap.fill(f"- {why}: " + ", ".join(
                f"{o} ({ops[o]})" for o in names) + ";", 100, subsequent_indent="  "))
    lines += ["", "Attribute values refused (cases):", ""]
    lines += [textwrap.fill(f"- {k} ({n})", 100, subsequent_indent="  ")
              for k, n in sorted(refused.items())]
    lines += ["", textwrap.fill("Cases needing a dtype corefw has no tensors of: " + ", ".join(
        f"{k} {n}" for k, n in dtypes.most_common()) + ".", 100)]
    return "\n".join(lines)


def operator_of(case) -> str:
    """The operator a case tests: its single node, or the node named in the test's name."""
    nodes = [n.op_type for n in case.model.graph.node]
    if len(nodes) == 1:
        return nodes[0]
    stem = case.name[5:].replace("_", "").lower()
    for op in sorted(set(nodes), key=len, reverse=True):
        if stem.startswith(op.lower()):
            return op
    return nodes[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--ops", default="", help="comma-separated operators (default: all)")
    p.add_argument("--json", default="", help="write per-case results here")
    p.add_argument("--failures", action="store_true", help="list failing cases")
    p.add_argument("--markdown", action="store_true",
                   help="print the unsupported operators and reasons (docs/onnx.md)")
    args = p.parse_args()
    from corefw_onnx.backend import node_cases, run_node_case

    cases = list(node_cases().values())

    wanted = set(filter(None, args.ops.split(",")))
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    results = {}
    start = time.perf_counter()
    for case in cases:
        op = operator_of(case)
        if wanted and op not in wanted:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status, detail = run_node_case(case, args.device)
        table[op][status] += 1
        results[case.name] = {"op": op, "status": status, "detail": detail}
        if args.failures and status == "fail":
            print(f"FAIL {case.name}: {detail}")
    took = time.perf_counter() - start
    print(f"{'operator':<28}{'pass':>6}{'fail':>6}{'unsup':>7}")
    totals = collections.Counter()
    for op in sorted(table):
        c = table[op]
        totals.update(c)
        print(f"{op:<28}{c['pass']:>6}{c['fail']:>6}{c['unsupported']:>7}")
    supported = totals["pass"] + totals["fail"]
    rate = 100.0 * totals["pass"] / supported if supported else 0.0
    full = sum(1 for c in table.values() if not c["unsupported"] and not c["fail"])
    print(f"{'total':<28}{totals['pass']:>6}{totals['fail']:>6}{totals['unsupported']:>7}")
    print(f"cases: {sum(totals.values())}; pass rate over supported cases: {rate:.1f}%; "
          f"operators with every case passing: {full}/{len(table)}; device {args.device}; "
          f"{took:.1f} s on {platform.machine()} {platform.python_version()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    if args.markdown:
        print(markdown(results))


if __name__ == "__main__":
    main()
