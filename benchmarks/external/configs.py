"""Comparison configurations for the external reference simulators (plain python, no yoso import).

Runs inside ``.venv-ext``.  Every record carries the plain layer fields (N, C, K, h_in, w_in, pad,
h_out, w_out, R, S, stride, dilation, groups) and the hardware fields (pe_rows, pe_cols, gbuf_kb,
rbuf_bytes, dataflow).  Layers are representative of yoso's CIFAR-10 deployment networks
(32x32 / 16x16 / 8x8 feature maps, 36 / 72 / 144 channels), all with "same" padding.
"""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]


def layer(
    name: str, kind: str, C: int, K: int, hw: int, R: int, stride: int = 1, groups: int = 1, N: int = 1
) -> Record:
    """One layer record; ``hw`` is the (square) input size, padding is ``R // 2`` ("same")."""
    pad = R // 2 if hw > 1 else 0
    h_out = (hw + 2 * pad - R) // stride + 1
    return {
        "layer": name,
        "kind": kind,
        "N": N,
        "C": C,
        "K": K,
        "h_in": hw,
        "w_in": hw,
        "pad": pad,
        "h_out": h_out,
        "w_out": h_out,
        "R": R,
        "S": R,
        "stride": stride,
        "dilation": 1,
        "groups": groups,
    }


def macs(rec: Record) -> int:
    """Multiply-accumulates of a layer record."""
    return rec["N"] * rec["K"] * rec["h_out"] * rec["w_out"] * rec["R"] * rec["S"] * rec["C"] // rec["groups"]


# Layers (CIFAR-10 deployment network shapes).
LAYERS: list[Record] = [
    layer("stem3x3_3-108_32", "conv", 3, 108, 32, 3),
    layer("conv3x3_36_32", "conv", 36, 36, 32, 3),
    layer("conv3x3_72_16", "conv", 72, 72, 16, 3),
    layer("conv3x3_144_8", "conv", 144, 144, 8, 3),
    layer("conv3x3s2_72-144_16", "conv", 72, 144, 16, 3, stride=2),
    layer("conv5x5_36_16", "conv", 36, 36, 16, 5),
    layer("conv5x5_72_8", "conv", 72, 72, 8, 5),
    layer("pw1x1_108-36_32", "pointwise", 108, 36, 32, 1),
    layer("pw1x1_36_32", "pointwise", 36, 36, 32, 1),
    layer("pw1x1_144-72_16", "pointwise", 144, 72, 16, 1),
    layer("pw1x1_288-144_8", "pointwise", 288, 144, 8, 1),
    layer("pw1x1_576-144_8", "pointwise", 576, 144, 8, 1),
    layer("fc_576-10", "fc", 576, 10, 1, 1),
    layer("fc_256-128", "fc", 256, 128, 1, 1),
    layer("fc_144-10", "fc", 144, 10, 1, 1),
    # Depthwise: SCALE-Sim (channel by channel) and ZigZag (G dimension); nn-dataflow has none.
    layer("dw3x3_36_32", "depthwise", 36, 36, 32, 3, groups=36),
    layer("dw3x3_72_16", "depthwise", 72, 72, 16, 3, groups=72),
    layer("dw3x3_144_8", "depthwise", 144, 144, 8, 3, groups=144),
    layer("dw5x5_72_16", "depthwise", 72, 72, 16, 5, groups=72),
    layer("dw3x3s2_72_32", "depthwise", 72, 72, 32, 3, stride=2, groups=72),
]

ARRAYS: list[tuple[int, int]] = [(8, 8), (12, 14), (14, 16), (16, 16), (16, 32)]
GBUF_KB: list[int] = [64, 128, 256]
RBUF_BYTES: list[int] = [256, 512]

# Unit energies of nn-dataflow's Eyeriss test (MAC-normalised, per 16-bit access).
UNIT_COSTS: dict[str, float] = {"mac": 1.0, "dram": 200.0, "glb": 6.0, "noc": 2.0, "rf": 1.0}
WORD_BYTES = 2


def scalesim_settings(gbuf_kb: int) -> dict[str, Any]:
    """SCALE-Sim's own settings used for a global buffer of ``gbuf_kb`` (split ifmap/filter/ofmap)."""
    return {
        "ifmap_sram_kb": gbuf_kb // 2,
        "filter_sram_kb": gbuf_kb // 4,
        "ofmap_sram_kb": gbuf_kb // 4,
        "bandwidth_mode": "CALC",
        "read_request_buffer": 512,
        "write_request_buffer": 512,
        "memory_banks": 1,
        "word_bytes": 1,
        "note": "ifmap given as the padded rows read, (h_out-1)*stride + R; depthwise = one 1-channel layer per channel",
    }


def _hw(pe: tuple[int, int], gbuf_kb: int, rbuf: int, df: str) -> Record:
    return {"pe_rows": pe[0], "pe_cols": pe[1], "gbuf_kb": gbuf_kb, "rbuf_bytes": rbuf, "dataflow": df}


def cycle_configs() -> list[Record]:
    """SCALE-Sim configurations: every layer on two arrays, WS and OS (IS skipped: yoso has none)."""
    out = []
    for i, lay in enumerate(LAYERS):
        for j in (i % len(ARRAYS), (i + 2) % len(ARRAYS)):
            for df in ("WS", "OS"):
                gb = GBUF_KB[(i + j) % len(GBUF_KB)]
                rec = {
                    "id": f"ss-{lay['layer']}-{ARRAYS[j][0]}x{ARRAYS[j][1]}-{df}",
                    **lay,
                    **_hw(ARRAYS[j], gb, 512, df),
                }
                rec["scalesim"] = scalesim_settings(gb)
                out.append(rec)
    return out


def energy_configs(tool: str = "nn_dataflow") -> list[Record]:
    """Energy configurations: each layer on three (array, GLB, RF) points.

    nn-dataflow: Eyeriss row-stationary mapping ("RS"), no depthwise (no grouped conv in nn-dataflow).
    ZigZag: dataflows given by spatial unrolling, WS = C x K, OS = OX x OY, RS-like = FY x OY.
    """
    dfs = ["RS"] if tool == "nn_dataflow" else ["WS", "OS", "RS"]
    out = []
    for i, lay in enumerate(LAYERS):
        if tool == "nn_dataflow" and lay["groups"] != 1:
            continue
        for k in range(3):
            pe = ARRAYS[(i + 2 * k) % len(ARRAYS)]
            gb = GBUF_KB[(i + k) % len(GBUF_KB)]
            rb = RBUF_BYTES[(i + k) % len(RBUF_BYTES)]
            df = dfs[(i + k) % len(dfs)]
            out.append({"id": f"{tool}-{lay['layer']}-{pe[0]}x{pe[1]}-g{gb}-r{rb}-{df}", **lay, **_hw(pe, gb, rb, df)})
    return out


def darts_v2_layers(C: int = 36, cells: int = 20, hw: int = 32, classes: int = 10) -> list[Record]:
    """Layer list of the DARTS_V2 CIFAR-10 evaluation network (auxiliary head excluded).

    Kinds: conv, pointwise, depthwise, maxpool, add, avgpool, fc.  Reductions at cells//3 and 2*cells//3.
    sep_conv_3x3 = 2 x (dw 3x3 + pw 1x1); dil_conv_3x3 = dw 3x3 dilation 2 + pw 1x1; factorized
    reduce = two 1x1 stride-2 convs to C/2 each; skip_connect in a normal cell is identity.
    """
    normal = [
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ]
    reduce = [
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ]
    out: list[Record] = [layer("stem", "conv", 3, 3 * C, hw, 3)]
    c_pp, c_p, c_cur, size, red_prev = 3 * C, 3 * C, C, hw, False
    for i in range(cells):
        red = i in (cells // 3, 2 * cells // 3)
        if red:
            c_cur *= 2
        tag = f"cell{i}"
        if red_prev:  # factorized reduce of s0 (its map is twice as large)
            out += [layer(f"{tag}.pre0.fr{j}", "pointwise", c_pp, c_cur // 2, size * 2, 1, stride=2) for j in (1, 2)]
        else:
            out.append(layer(f"{tag}.pre0", "pointwise", c_pp, c_cur, size, 1))
        out.append(layer(f"{tag}.pre1", "pointwise", c_p, c_cur, size, 1))
        osize = size // 2 if red else size
        for k, (op, idx) in enumerate(reduce if red else normal):
            s = 2 if red and idx < 2 else 1
            isz = size if idx < 2 else osize
            name = f"{tag}.n{k // 2}.{op}"
            if op == "sep_conv_3x3":
                out += [
                    layer(name + ".dw1", "depthwise", c_cur, c_cur, isz, 3, stride=s, groups=c_cur),
                    layer(name + ".pw1", "pointwise", c_cur, c_cur, isz // s, 1),
                    layer(name + ".dw2", "depthwise", c_cur, c_cur, isz // s, 3, groups=c_cur),
                    layer(name + ".pw2", "pointwise", c_cur, c_cur, isz // s, 1),
                ]
            elif op == "dil_conv_3x3":
                dw = layer(name + ".dw", "depthwise", c_cur, c_cur, isz, 3, stride=s, groups=c_cur)
                dw.update(dilation=2, pad=2)
                out += [dw, layer(name + ".pw", "pointwise", c_cur, c_cur, isz // s, 1)]
            elif op == "max_pool_3x3":
                out.append(layer(name, "maxpool", c_cur, c_cur, isz, 3, stride=s, groups=c_cur))
            elif op == "skip_connect" and s == 2:
                out += [layer(f"{name}.fr{j}", "pointwise", c_cur, c_cur // 2, isz, 1, stride=2) for j in (1, 2)]
            if k % 2 == 1:
                out.append(layer(f"{tag}.n{k // 2}.add", "add", c_cur, c_cur, osize, 1, groups=c_cur))
        c_pp, c_p, size, red_prev = c_p, 4 * c_cur, osize, red
    out.append(layer("gap", "avgpool", c_p, c_p, size, size, stride=size, groups=c_p))
    out[-1].update(pad=0, h_out=1, w_out=1)
    out.append(layer("classifier", "fc", c_p, classes, 1, 1))
    return out


if __name__ == "__main__":
    cyc, en = cycle_configs(), energy_configs()
    net = darts_v2_layers()
    params = sum(
        r["K"] * r["C"] // r["groups"] * r["R"] * r["S"]
        for r in net
        if r["kind"] in ("conv", "pointwise", "depthwise", "fc")
    )
    print(
        f"{len(cyc)} cycle configs, {len(en)} nn-dataflow energy configs, "
        f"{len(energy_configs('zigzag'))} zigzag energy configs; DARTS_V2 net: {len(net)} layers, "
        f"{sum(macs(r) for r in net if r['kind'] != 'add') / 1e6:.1f} MMAC, {params / 1e6:.2f} M weights"
    )
