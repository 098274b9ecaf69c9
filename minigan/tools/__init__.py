"""Developer tools for learners: gradient checks by finite differences (gradcheck.py) and pictures of the
graph (graphviz.py). ``mg.gradcheck``, ``mg.gradgradcheck``, ``mg.draw_graph`` and ``mg.to_dot`` re-export them."""
