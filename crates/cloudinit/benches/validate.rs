//! In-process throughput of `reimage_cloudinit::validate` over the `#cloud-config` files of the
//! corpus (`tests/cloud-init/corpus/`). Run with `cargo bench -p reimage-cloudinit`; the figures
//! go to `docs/benchmarks.md`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reimage_cloudinit::Options;
use reimage_cloudinit::schema::Version;

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cloud-init/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|bytes| bytes.starts_with(b"#cloud-config\n"))
        .collect()
}

fn bench(c: &mut Criterion) {
    let files = corpus();
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(files.len() as u64));
    for version in Version::ALL {
        let options = Options::default().with_version(version);
        group.bench_function(format!("corpus/cloud-init-{version}"), |b| {
            b.iter(|| {
                for bytes in &files {
                    black_box(reimage_cloudinit::validate(black_box(bytes), &options));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
