"""The protocol engine: each role's step as one function (`steps`), and the one round loop that
schedules them for a whole coalition on one machine (`schedule`). Daemons loop over the steps,
the simulation schedules them, the benchmarks time them (`phases`)."""
