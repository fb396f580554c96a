#!/usr/bin/env python3
"""Rewrites a .cu file as C++ for the CUDA emulator: each `kernel<<<config>>>(args)` becomes
`::mn_emu::launch({config}, [&](args...) { kernel(args...); }, args)`, keeping every line where it was (a #line names the
original file, so compiler messages point at it). Usage: cu2cpp.py IN.cu OUT.cpp"""
import os
import re
import sys


def kernel_start(text, end):
    """Where the kernel expression that ends at `end` (just before <<<) begins: an identifier
    with optional namespace qualifiers and template arguments."""
    i = end
    while True:
        if text[i - 1] == '>':  # template arguments: find the matching '<'
            depth = 0
            while True:
                i -= 1
                depth += {'>': 1, '<': -1}.get(text[i], 0)
                if depth == 0:
                    break
        while i > 0 and (text[i - 1].isalnum() or text[i - 1] == '_'):
            i -= 1
        if text[i - 2:i] == '::':
            i -= 2
            continue
        return i


def matching_paren(text, start):
    depth = 0
    for i in range(start, len(text)):
        depth += {'(': 1, ')': -1}.get(text[i], 0)
        if depth == 0:
            return i
    sys.exit(f'cu2cpp: unbalanced parentheses after offset {start}')


def rewrite(text):
    out, pos = [], 0
    for m in re.finditer(r'<<<', text):
        if m.start() < pos:
            continue
        begin = kernel_start(text, m.start())
        close = text.index('>>>', m.end())
        paren = close + 3
        while text[paren].isspace():
            paren += 1
        assert text[paren] == '(', f'cu2cpp: no argument list after >>> at offset {close}'
        end = matching_paren(text, paren)
        kernel, config, args = text[begin:m.start()], text[m.end():close], text[paren + 1:end]
        between = text[close + 3:paren]  # whitespace, newlines kept
        out.append(text[pos:begin])
        call = f'[&](const auto&... mn_emu_args) {{ {kernel}(mn_emu_args...); }}'
        out.append(f'::mn_emu::launch({{{config}}}, {call}{between}' + (f', {args})' if args.strip() else ')'))
        pos = end + 1
    out.append(text[pos:])
    return ''.join(out)


if __name__ == '__main__':
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        text = f.read()
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w") as f:
        f.write(f'#line 1 "{src}"\n' + rewrite(text))
