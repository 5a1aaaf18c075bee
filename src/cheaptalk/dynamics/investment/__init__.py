"""What to invest in: levers a platform can pull (:mod:`.levers`), the causal effect of a
randomised change beside the trust model's prediction (:mod:`.effect`), and the best plan for
a budget under a fitted rule (:mod:`.plan`). docs/dynamics.md, "What to invest in"."""
