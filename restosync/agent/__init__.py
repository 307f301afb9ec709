"""The reference agent: what a vendor runs next to its ERP (SPEC §5.4).

A client of restosync's HTTP API only, never of its internals: `credentials` keeps the
agent's token and outbound secret on disk, `client` enrols, rotates and heartbeats,
`cli` is the `restosync agent …` command.
"""
