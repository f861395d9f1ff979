#!/usr/bin/python3
"""Golden values for the reference's `frame_range` (inference.py combine_guidance_data): the guidance files are
`sorted(...)[frame_range[0]:frame_range[1]]` unless `frame_range` is falsy (null or empty), i.e. Python slice
semantics, negative bounds counting from the end and bounds past the end clipped.

Regenerate (from the repository root, Debian's python3, NOT the python3 on PATH):

    /usr/bin/python3 test/diffusion/golden/frame_range_reference.py

Writes test/diffusion/fixtures/frame_range.json: for each (n, frame_range) the selected indices' [first, end).
"""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'frame_range.json')


def select(n, frame_range):
    files = list(range(n))
    chosen = files if not frame_range else files[frame_range[0]:frame_range[1]]
    return [chosen[0], chosen[-1] + 1] if chosen else None


def main():
    cases = []
    for n in (1, 12, 99, 100, 101, 220):
        for fr in (None, [], [0, 100], [0, 12], [5, 17], [10, 5], [-20, -2], [-500, 3], [90, 400], [0, -1], [100, 120], [7, 7]):
            cases.append({'n': n, 'frame_range': fr, 'selected': select(n, fr)})
    with open(OUT, 'w') as f:
        json.dump(cases, f, indent=0)
    print(f'wrote {len(cases)} cases to {OUT}')


if __name__ == '__main__':
    main()
