"""The corpus stays at 100%: every real client stream of ../shared/corpus
(other people's traffic: never committed; found through FLYPAPER_CORPUS,
../shared/corpus next to the checkout, or /work/shared/corpus), replayed
to a real serve and rescanned, is stored byte-exact and gets its manifest's
family (or one of also_ok; none where none is expected), and no sample but
a worm gets a worm label. Every wrong sample is printed."""
import pytest

from conftest import FLYPAPER
import corpus


def test_every_corpus_sample_gets_its_family_and_no_false_worm(tmp_path):
    folder = corpus.corpus_dir()
    if not folder:
        pytest.skip("no corpus: looked for manifest.csv in " +
                    ", ".join(corpus.corpus_places()) +
                    " (set FLYPAPER_CORPUS to the folder holding manifest.csv and samples/)")
    samples = corpus.load_samples(folder, "corpus")
    assert len(samples) >= 48, f"{folder}: {len(samples)} samples"
    results = corpus.classify(FLYPAPER, samples, str(tmp_path))

    wrong = [r for r in results if not corpus.right(r)]
    worms = [r for r in results if corpus.worm_label(r)]
    inexact = [r for r in results if not r.stored_exact]
    for r in wrong:
        print(f"WRONG {r.sample.id}: family {r.family or '-'}, expected "
              f"{r.sample.expected or '-'}{' or ' + '/'.join(r.sample.also_ok) if r.sample.also_ok else ''}"
              f"; rules: {r.rules or '-'}")
    for r in worms:
        print(f"WORM {r.sample.id}: family {r.family or '-'}; rules: {r.rules}")
    for r in inexact:
        print(f"NOT STORED EXACTLY {r.sample.id}")
    assert not inexact, [r.sample.id for r in inexact]
    assert not worms, [r.sample.id for r in worms]
    assert not wrong, f"{len(wrong)} of {len(results)} wrong: " + \
        ", ".join(f"{r.sample.id}={r.family or '-'}" for r in wrong)
