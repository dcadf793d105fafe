"""The steps the workflows share: project layout, planning, stores, fitting, members, results.

Each verb in ``regional_lstm.workflows`` is a short composition of these; nothing here is a verb.
"""
