"""The file layout of coding problems (``datasets.lidar``, ``datasets.depth``): per sample
and field, what each coded value's prediction sees and the value, as
``{group}/{sample}/{field}/{features,reference,unit,value}``; ``omnicodec.train``'s
``CodingProblems`` reads it."""

PARTS = ("features", "reference", "unit", "value")


def store(f, group, name, problems):
    """Write one sample's coding problems ({field: arrays in PARTS order}) to the open h5
    file ``f``, or say that it was skipped (None: the codec finds no sensor there)."""
    if problems is None:
        print(f"{name}: no sensor found, skipped", flush=True)
        return
    for field, arrays in problems.items():
        for part, array in zip(PARTS, arrays):
            f[f"{group}/{name}/{field}/{part}"] = array
    print(f"{name}: {len(next(iter(problems.values()))[3])} values", flush=True)
