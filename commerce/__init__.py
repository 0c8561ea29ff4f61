"""The commerce world agents act on: customers, orders, inventory, shipments, sandbox payments, leads and
tickets; their tables, tools, saga steps, connectors and demo seed. Only the composition root registers it.
"""
