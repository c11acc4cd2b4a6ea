//! The mappings shipped with Lingxi for the demo, each with a sample export: generic marketplace-style layouts, no
//! real company's data.

use crate::mapping::Mapping;

/// A shipped mapping with a sample export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shipped {
    /// A stable id (`tmall-refunds`).
    pub id: &'static str,
    /// The mapping, as JSON.
    pub mapping_json: &'static str,
    /// The sample file's name.
    pub sample_name: &'static str,
    /// A sample export of about 20 rows, read with this mapping without errors.
    pub sample: &'static [u8],
}

impl Shipped {
    /// The mapping.
    pub fn mapping(&self) -> Result<Mapping, serde_json::Error> {
        Mapping::from_json(self.mapping_json)
    }
}

/// Every shipped mapping.
pub const SHIPPED: [Shipped; 2] = [
    Shipped {
        id: "tmall-refunds",
        mapping_json: include_str!("../mappings/tmall-refunds.json"),
        sample_name: "tmall-refunds.csv",
        sample: include_bytes!("../samples/tmall-refunds.csv"),
    },
    Shipped {
        id: "jd-reviews",
        mapping_json: include_str!("../mappings/jd-reviews.json"),
        sample_name: "jd-reviews.csv",
        sample: include_bytes!("../samples/jd-reviews.csv"),
    },
];

/// The shipped mapping with this id.
pub fn shipped(id: &str) -> Option<&'static Shipped> {
    SHIPPED.iter().find(|s| s.id == id)
}
