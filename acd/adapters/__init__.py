"""Adapters between `acd`'s HTTP contract and telephony platforms that cannot speak it directly."""
