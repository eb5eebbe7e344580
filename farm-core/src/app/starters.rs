//! The starters a new wiki can begin with ([`crate::mediawiki::starters`]).

use serde::Serialize;

use super::Farm;
use crate::domain::LanguageCode;
use crate::mediawiki::starters::{Preview, Starter};
use crate::FarmError;

/// A starter as the create form and `GET /api/v1/starters` show it, in one language.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct StarterView {
    pub id: String,
    pub title: String,
    pub description: String,
    /// The languages it has pages in (`*`: one set for every language); a wiki in another
    /// language gets the English pages.
    pub languages: Vec<String>,
    /// The pages a wiki in the asked-for language begins with.
    pub pages: Vec<String>,
    /// New wikis get it unless their creator chooses another.
    pub default: bool,
    /// Shipped with farmd rather than added by the operator.
    pub built_in: bool,
    /// Whether it has a preview picture (`GET /api/v1/starters/{id}/preview`).
    pub has_preview: bool,
}

impl Farm {
    /// Every starter, described in `language` (default: the farm's default language).
    pub fn starters(&self, language: Option<&str>) -> Result<Vec<StarterView>, FarmError> {
        let language = match language {
            Some(code) => self.languages.parse(code)?,
            None => self.default_language.clone(),
        };
        Ok(self.starters.all().iter().map(|s| self.starter_view(s, &language)).collect())
    }

    fn starter_view(&self, starter: &Starter, language: &LanguageCode) -> StarterView {
        let text = starter.text(language.as_str());
        StarterView {
            id: starter.id.clone(),
            title: text.title,
            description: text.description,
            languages: starter.languages(),
            pages: starter.pages(language).to_vec(),
            default: starter.id == self.starters.default_starter().id,
            built_in: starter.built_in,
            has_preview: starter.preview.is_some(),
        }
    }

    /// `id` if it names one of the farm's starters.
    pub(crate) fn starter_id(&self, id: &str) -> Result<String, FarmError> {
        self.starters.get(id).map(|s| s.id.clone()).ok_or_else(|| {
            FarmError::invalid(
                "starter",
                "starter_unknown",
                "no such starter; GET /api/v1/starters lists this farm's starters".into(),
            )
        })
    }

    /// A starter's preview picture.
    pub fn starter_preview(&self, id: &str) -> Result<Preview, FarmError> {
        self.starters.get(id).and_then(|s| s.preview.clone()).ok_or(FarmError::NotFound("starter"))
    }
}
