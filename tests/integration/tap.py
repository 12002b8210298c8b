"""Runs a module's unittest cases and reports them as TAP, so that meson
counts each case. Usage: at the end of a test module,
    if __name__ == "__main__": tap.main()
The envoi binary comes from $ENVOI (set by tests/meson.build)."""
import os
import sys
import unittest

ENVOI = os.environ.get("ENVOI", "envoi")


def _sanitized(path):
    """Whether the envoi under test is an AddressSanitizer build (some
    checks measure what ASan itself changes: RSS, address space, a copy of
    the environment)."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized(ENVOI)


class TapResult(unittest.TestResult):
    """Prints one TAP line per case as it ends. A failing class fixture
    (setUpClass) shows as an extra "not ok", which also breaks the plan:
    either way the run fails."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, ok, test, note=""):
        self.n += 1
        name = test.id().split(".", 1)[-1] if hasattr(test, "id") else str(test)
        print(f"{'ok' if ok else 'not ok'} {self.n} - {name}{note}", flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(True, test, f" # SKIP {reason}")

    def _fail(self, test, err):
        self._line(False, test)
        for line in self._exc_info_to_string(err, test).rstrip().splitlines():
            print(f"# {line}", flush=True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err)

    # A known failure (unittest.expectedFailure) is "not ok # TODO"; one
    # that passes again is "ok # TODO", which meson counts as a failure,
    # so that the mark is removed once the finding is fixed.
    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._line(False, test, " # TODO known finding, see the comment on the test")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(True, test, " # TODO fixed? remove expectedFailure")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            # The case itself then gets no line of its own: this is it.
            self._fail(subtest, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err)


def main():
    suite = unittest.TestLoader().loadTestsFromModule(sys.modules["__main__"])
    print(f"1..{suite.countTestCases()}", flush=True)
    result = TapResult()
    suite.run(result)
    sys.exit(0 if result.wasSuccessful() else 1)
