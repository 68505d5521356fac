"""The agent-based model: company agents, their strategies, and the Mesa park model."""
