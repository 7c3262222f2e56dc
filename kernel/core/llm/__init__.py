"""The LLM runtime's pure half (SPEC §12): a protocol's data compiled into records, the
canonical request, the wire body built from it, the stream assembler, the error classifier
with its retry verdicts, tiers and prices. Nothing here does I/O; ``exec/llm_call.py`` runs it."""
