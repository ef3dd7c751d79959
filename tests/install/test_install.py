#!/usr/bin/env python3
"""test_install.py — `cmake --install` of a built tree into a temp prefix, then moved elsewhere (the tree must
be relocatable), checked: the expected files are there, nothing installed names the build or source tree or
the prefix it was installed to, every public header compiles on its own (C++20; lowbit.h also as C11 and
C++), and three consumers build against the moved tree and run: CMake find_package (C++ on lowbit::lowbit and
C11 on lowbit::lowbit_static), pkg-config (C++), and C11 through pkg-config. Each consumer runs on every
backend with an empty kernel cache, so the kernels come from the library itself; an absent GPU backend is
skipped unless $LOWBIT_REQUIRE / $CI requires it.

usage: test_install.py BUILD_DIR SOURCE_DIR CMAKE C_COMPILER CXX_COMPILER
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def required(backend):
    ci = os.environ.get("CI", "")
    return bool(ci and ci not in ("0", "false")) or backend in os.environ.get("LOWBIT_REQUIRE", "")


def is_text(path):
    with open(path, "rb") as f:
        return b"\0" not in f.read(4096)


def check_files(prefix, forbidden):
    libdir = os.path.dirname(glob.glob(f"{prefix}/**/liblowbit.a", recursive=True)[0])
    for rel in ["bin/lowbit", "include/lowbit/lowbit.h", "include/lowbit/lowbit.hpp"]:
        assert os.path.isfile(os.path.join(prefix, rel)), f"{rel} not installed"
    for rel in ["liblowbit.so", "cmake/lowbit/lowbitConfig.cmake", "cmake/lowbit/lowbitConfigVersion.cmake",
                "pkgconfig/lowbit.pc"]:
        assert os.path.exists(os.path.join(libdir, rel)), f"{rel} not installed in {libdir}"
    assert not glob.glob(f"{prefix}/include/**/internal_access.hpp", recursive=True), "an internal header is installed"
    for root, _, files in os.walk(prefix):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue
            if is_text(path):
                text = open(path, encoding="utf-8", errors="replace").read()
                for what, bad in forbidden.items():
                    assert bad not in text, f"{path} names the {what} ({bad})"
            else:  # a binary: no run path into the build tree, no path of it in its strings
                dyn = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
                assert "RPATH" not in dyn and "RUNPATH" not in dyn, f"{path} has a run path:\n{dyn}"
                data = open(path, "rb").read()
                for what, bad in forbidden.items():
                    assert bad.encode() not in data, f"{path} names the {what} ({bad})"
    return libdir


def check_headers(prefix, cc, cxx, work):
    inc = os.path.join(prefix, "include")
    for header in sorted(glob.glob(f"{inc}/lowbit/*")):
        name = os.path.relpath(header, inc)
        src = os.path.join(work, "one_header.cpp")
        with open(src, "w") as f:
            f.write(f"#include <{name}>\n")
        run([cxx, "-std=c++20", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", inc, src])
        if name.endswith(".h"):
            csrc = os.path.join(work, "one_header.c")
            with open(csrc, "w") as f:
                f.write(f"#include <{name}>\nint main(void) {{ return lowbit_version() ? 0 : 1; }}\n")
            run([cc, "-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror", "-fsyntax-only", "-I", inc, csrc])


def run_consumer(exe, env, results):
    for backend in ["cpu", "vulkan", "opencl"]:
        r = subprocess.run([exe, backend], capture_output=True, text=True, env=env)
        label = f"{os.path.basename(exe)} {backend}"
        if r.returncode == SKIP and backend != "cpu" and not required(backend):
            print(f"[lowbit tests] SKIPPED: backend {backend} for {label}: {r.stdout.strip()}", file=sys.stderr)
            continue
        assert r.returncode == 0, f"{label}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        results.append(f"{label}: {r.stdout.strip()}")


def main():
    build, source, cmake, cc, cxx = sys.argv[1:6]
    with tempfile.TemporaryDirectory(prefix="lowbit_install_") as tmp:
        first = os.path.join(tmp, "first_prefix")
        run([cmake, "--install", build, "--prefix", first])
        prefix = os.path.join(tmp, "moved")  # relocatable: used from where it was moved to
        shutil.move(first, prefix)
        forbidden = {"build tree": os.path.realpath(build), "source tree": os.path.realpath(source),
                     "install prefix": first}
        libdir = check_files(prefix, forbidden)
        work = os.path.join(tmp, "work")
        os.makedirs(work)
        check_headers(prefix, cc, cxx, work)

        env = dict(os.environ, LOWBIT_CACHE_DIR=os.path.join(tmp, "empty_cache"))
        results = []
        # CMake: find_package(lowbit) from the moved prefix
        cbuild = os.path.join(tmp, "cmake_consumer")
        run([cmake, "-S", os.path.join(HERE, "consumer"), "-B", cbuild, f"-DCMAKE_PREFIX_PATH={prefix}",
             f"-DCMAKE_C_COMPILER={cc}", f"-DCMAKE_CXX_COMPILER={cxx}", "-DCMAKE_BUILD_TYPE=Release"])
        run([cmake, "--build", cbuild, "-j2"])
        run_consumer(os.path.join(cbuild, "consumer_cpp"), env, results)
        run_consumer(os.path.join(cbuild, "consumer_c_static"), env, results)

        # pkg-config: the prefix comes from the .pc file's own place
        penv = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
        got = run(["pkg-config", "--variable=prefix", "lowbit"], env=penv).strip()
        assert os.path.realpath(got) == os.path.realpath(prefix), f"pkg-config prefix {got}, installed at {prefix}"
        flags = run(["pkg-config", "--cflags", "--libs", "lowbit"], env=penv).split()
        rpath = f"-Wl,-rpath,{libdir}"
        exe_cpp, exe_c = os.path.join(work, "pkgconfig_cpp"), os.path.join(work, "pkgconfig_c")
        run([cxx, "-std=c++20", "-o", exe_cpp, os.path.join(HERE, "consumer", "consumer.cpp")] + flags + [rpath])
        run([cc, "-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o", exe_c,
             os.path.join(HERE, "consumer", "consumer.c")] + flags + [rpath])
        run_consumer(exe_cpp, env, results)
        run_consumer(exe_c, env, results)
        print("\n".join(results))
        print(f"installed tree at {prefix}: files, headers and {len(results)} consumer runs ok")


if __name__ == "__main__":
    main()
