"""The course wing: assignments from the notebooks (`assignments`, with the student versions in
`student` and the reading of a student's open answers in `answers`), the autograder (`grader`,
reading submissions with `submission`, with its isolated student process in `sandbox`, `probes`
and `student_process`), and the checks it judges with (`checks`, gathered from `checks_objective`
and `checks_models`, on the helpers of `check_helpers`).

Nothing in vaelib's core imports from here."""
