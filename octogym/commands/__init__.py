"""The command lines of the ``octogym`` console script (:mod:`octogym.cli`).

* :mod:`~octogym.commands.evaluate`: ``octogym evaluate`` (= ``python evaluate.py``);
* :mod:`~octogym.commands.train`: ``octogym train`` (= ``python train.py``);
* :mod:`~octogym.commands.bench`: ``octogym bench`` (the frozen benchmark,
  :mod:`octogym.benchmark`; = ``python evaluate.py --benchmark``).

Each has ``main(argv) -> exit code``; the repository's scripts are thin wrappers over them.
"""
