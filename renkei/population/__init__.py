"""The composition root's population commands: tokens and databases around agencies.population.

:mod:`commands` (``renkei population generate``), :mod:`chunks` (one chunk as COPY data, with
the tokens the token service would issue), :mod:`load` (the COPY pipeline), :mod:`enroll`
(the demo's population, each office enrolling its people). See agencies/population/README.md.
"""
