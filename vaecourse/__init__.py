"""The course, beside the student's library `vaelib`: assignments from the notebooks
(`assignments`, with the student versions in `student` and the reading of a student's open answers
in `answers`), the autograder (`grader`, reading submissions with `submission`, with its isolated
student process in `sandbox`, `probes` and `student_process`; a folder of submissions in
`classroom`), the checks it judges with (`checks`, gathered from `checks_objective`, `checks_models`
and `checks_chapters`, on the helpers of `check_helpers`), and its command line (`cli`:
`python -m vaecourse student | grade`).

vaecourse imports vaelib; nothing in vaelib imports vaecourse (tests/test_course_layout.py)."""
