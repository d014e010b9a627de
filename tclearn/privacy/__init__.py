"""Mode B: a private model. Every model and update is sealed before it is stored (`envelope`),
its data key wrapped for each participant its role entitles (`keys`, `vault`), and every grant
is readable from the chain and the store alone (`access`)."""
