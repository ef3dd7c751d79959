#!/usr/bin/env python3
"""ctest_skip_reporting.py — how CTest reports tests whose backends are absent. With the Vulkan and
OpenCL drivers hidden (VK_ICD_FILENAMES / VK_DRIVER_FILES / OCL_ICD_VENDORS pointing nowhere) and
neither CI nor LOWBIT_REQUIRE set, test_vulkan_backend must show as skipped, not passed; with
LOWBIT_REQUIRE=vulkan it must fail, and so must a Python CLI test. Runs the real registrations of
tests/CMakeLists.txt through a scratch CTest folder (so the outer CTest's logs stay untouched).

Usage: python3 tests/ctest_skip_reporting.py CTEST BUILD_DIR   (prints "N passed, M failed")
"""
import os
import subprocess
import sys
import tempfile

CTEST, BUILD = sys.argv[1], os.path.abspath(sys.argv[2])
NO_DRIVERS = {"VK_ICD_FILENAMES": "/nonexistent", "VK_DRIVER_FILES": "/nonexistent",
              "OCL_ICD_VENDORS": "/nonexistent", "OCL_ICD_FILENAMES": "/nonexistent"}


def ctest(test_regex, extra_env):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "LOWBIT_REQUIRE")}
    env.update(NO_DRIVERS)
    env.update(extra_env)
    with tempfile.TemporaryDirectory(prefix="lowbit_ctest_") as d:
        with open(os.path.join(d, "CTestTestfile.cmake"), "w") as f:
            f.write(f'subdirs("{BUILD}/tests")\n')
        r = subprocess.run([CTEST, "--test-dir", d, "-R", test_regex, "--output-on-failure"], capture_output=True,
                           text=True, env=env, timeout=280)
    return r.returncode, r.stdout + r.stderr


def gpu_binary_without_drivers_is_skipped():
    rc, out = ctest("^test_vulkan_backend$", {})
    assert rc == 0 and "***Skipped" in out and "(Skipped)" in out, f"rc {rc}\n{out}"


def gpu_binary_without_required_driver_fails():
    rc, out = ctest("^test_vulkan_backend$", {"LOWBIT_REQUIRE": "vulkan"})
    assert rc != 0 and "***Failed" in out and "required by $CI / $LOWBIT_REQUIRE" in out, f"rc {rc}\n{out}"


def ci_makes_every_gpu_backend_required():
    rc, out = ctest("^test_vulkan_backend$", {"CI": "true"})
    assert rc != 0 and "***Failed" in out, f"rc {rc}\n{out}"


def cli_test_without_required_driver_fails():
    rc, out = ctest("^test_attention_cli.py$", {"LOWBIT_REQUIRE": "vulkan,opencl"})
    assert rc != 0 and "***Failed" in out and "required" in out, f"rc {rc}\n{out}"


def main():
    passed = failed = 0
    for fn in (gpu_binary_without_drivers_is_skipped, gpu_binary_without_required_driver_fails,
               ci_makes_every_gpu_backend_required, cli_test_without_required_driver_fails):
        try:
            fn()
            passed += 1
            print(f"PASS {fn.__name__}", flush=True)
        except AssertionError as e:
            failed += 1
            print(f"FAIL {fn.__name__}\n{e}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
