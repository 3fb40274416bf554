"""``make bench``: accuracy and speed of the bot against baselines (see ``bench/run.py``).

Small modules, each measuring one thing and returning plain dicts that
``bench.report`` renders into ``docs/benchmarks.md``:

* ``stats``        percentiles and latency summaries (pure)
* ``machine``      CPU, memory, date, load average of this machine
* ``memory``       peak and current RSS of a process tree from ``/proc``
* ``accuracy``     the eval files scored per system and per intent
* ``fts_baseline`` baseline 2: the best full-text passage as the answer
* ``nlu``          ``rasa test nlu`` reports: intent macro-F1, entity F1, confusions
* ``build``        knowledge-base build time, baseline model training, training time
* ``inprocess``    Sudachi tokenization and NLU parse time inside one process
* ``latency``      one-client REST round trips
* ``load``         20 concurrent clients with locust
* ``profile``      py-spy profile of a server under load, summarised
* ``report``       the Markdown report
* ``run``          the orchestrator (``python -m bench.run``)
"""
