"""The rules of the park: resources, orders, the transport network, mechanisms and settlement.

Nothing here knows about agents; a mechanism sees orders and the network and returns trades,
and `settlement.settle` is the one place where goods and money move.
"""
