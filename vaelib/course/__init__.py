"""The course wing: assignments from the notebooks (`assignments`), the autograder (`grader`, with
its isolated student process in `sandbox` and `probes`), and the checks it judges with (`checks`).

Nothing in vaelib's core imports from here."""
