"""From corpora to data dirs: corpus readers (``corpora``), Kaldi-style data dirs
(``datadir``), the train/test split and female + male pairs (``splits``), one mixture's signal
work (``mixing``) and writing them all (``preparation``); derived dirs: simulated rooms
(``rooms``), speed perturbation (``perturb``), weak labels (``weak``), and the speaker-pair
protocol of Subakan & Smaragdis (``speaker_pairs``)."""
