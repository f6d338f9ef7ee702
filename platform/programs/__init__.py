"""Programs: templates of units (weeks), content and projects, with dates relative to a cohort's start."""
