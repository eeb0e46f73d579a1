//! The resources the sandbox serves, one per list or child collection, in a fixed order that
//! seeds their data, with the connector-facing stream name and the few traits that differ
//! between them (the field a test edit changes, whether deletes keep a record listed, which
//! lists are the live and archived halves of one resource).

/// Every resource the sandbox serves. Variants are only ever appended: a resource's position
/// seeds its data, so inserting one in the middle would change every record after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Deals,
    Persons,
    Organizations,
    Activities,
    Products,
    Pipelines,
    Stages,
    Users,
    Notes,
    Leads,
    LeadLabels,
    ActivityTypes,
    Currencies,
    Filters,
    Files,
    ArchivedDeals,
    ArchivedLeads,
    DealProducts,
    DealInstallments,
    DealChangelog,
    ProductVariations,
    LeadSources,
    Goals,
    Roles,
    RoleAssignments,
    PermissionSets,
    PermissionSetAssignments,
    CallLogs,
    MailThreads,
    MailMessages,
    Projects,
    ArchivedProjects,
    Tasks,
    ProjectBoards,
    ProjectPhases,
    ProjectTemplates,
    NoteComments,
    Webhooks,
    UserPermissions,
    DealFields,
    PersonFields,
    OrganizationFields,
    ProductFields,
    ActivityFields,
    ProjectFields,
    LeadFields,
    NoteFields,
}

impl Resource {
    pub const ALL: [Resource; 47] = [
        Resource::Deals,
        Resource::Persons,
        Resource::Organizations,
        Resource::Activities,
        Resource::Products,
        Resource::Pipelines,
        Resource::Stages,
        Resource::Users,
        Resource::Notes,
        Resource::Leads,
        Resource::LeadLabels,
        Resource::ActivityTypes,
        Resource::Currencies,
        Resource::Filters,
        Resource::Files,
        Resource::ArchivedDeals,
        Resource::ArchivedLeads,
        Resource::DealProducts,
        Resource::DealInstallments,
        Resource::DealChangelog,
        Resource::ProductVariations,
        Resource::LeadSources,
        Resource::Goals,
        Resource::Roles,
        Resource::RoleAssignments,
        Resource::PermissionSets,
        Resource::PermissionSetAssignments,
        Resource::CallLogs,
        Resource::MailThreads,
        Resource::MailMessages,
        Resource::Projects,
        Resource::ArchivedProjects,
        Resource::Tasks,
        Resource::ProjectBoards,
        Resource::ProjectPhases,
        Resource::ProjectTemplates,
        Resource::NoteComments,
        Resource::Webhooks,
        Resource::UserPermissions,
        Resource::DealFields,
        Resource::PersonFields,
        Resource::OrganizationFields,
        Resource::ProductFields,
        Resource::ActivityFields,
        Resource::ProjectFields,
        Resource::LeadFields,
        Resource::NoteFields,
    ];

    /// The connector's stream name.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Deals => "deals",
            Resource::Persons => "persons",
            Resource::Organizations => "organizations",
            Resource::Activities => "activities",
            Resource::Products => "products",
            Resource::Pipelines => "pipelines",
            Resource::Stages => "stages",
            Resource::Users => "users",
            Resource::Notes => "notes",
            Resource::Leads => "leads",
            Resource::LeadLabels => "lead_labels",
            Resource::ActivityTypes => "activity_types",
            Resource::Currencies => "currencies",
            Resource::Filters => "filters",
            Resource::Files => "files",
            Resource::ArchivedDeals => "archived_deals",
            Resource::ArchivedLeads => "archived_leads",
            Resource::DealProducts => "deal_products",
            Resource::DealInstallments => "deal_installments",
            Resource::DealChangelog => "deal_changelog",
            Resource::ProductVariations => "product_variations",
            Resource::LeadSources => "lead_sources",
            Resource::Goals => "goals",
            Resource::Roles => "roles",
            Resource::RoleAssignments => "role_assignments",
            Resource::PermissionSets => "permission_sets",
            Resource::PermissionSetAssignments => "permission_set_assignments",
            Resource::CallLogs => "call_logs",
            Resource::MailThreads => "mail_threads",
            Resource::MailMessages => "mail_messages",
            Resource::Projects => "projects",
            Resource::ArchivedProjects => "archived_projects",
            Resource::Tasks => "tasks",
            Resource::ProjectBoards => "project_boards",
            Resource::ProjectPhases => "project_phases",
            Resource::ProjectTemplates => "project_templates",
            Resource::NoteComments => "note_comments",
            Resource::Webhooks => "webhooks",
            Resource::UserPermissions => "user_permissions",
            Resource::DealFields => "deal_fields",
            Resource::PersonFields => "person_fields",
            Resource::OrganizationFields => "organization_fields",
            Resource::ProductFields => "product_fields",
            Resource::ActivityFields => "activity_fields",
            Resource::ProjectFields => "project_fields",
            Resource::LeadFields => "lead_fields",
            Resource::NoteFields => "note_fields",
        }
    }

    /// For a field-definitions list, the entity whose fields it defines.
    pub fn described(self) -> Option<Resource> {
        Some(match self {
            Resource::DealFields => Resource::Deals,
            Resource::PersonFields => Resource::Persons,
            Resource::OrganizationFields => Resource::Organizations,
            Resource::ProductFields => Resource::Products,
            Resource::ActivityFields => Resource::Activities,
            Resource::ProjectFields => Resource::Projects,
            Resource::LeadFields => Resource::Leads,
            Resource::NoteFields => Resource::Notes,
            _ => return None,
        })
    }

    pub(super) fn tag(self) -> u64 {
        Resource::ALL.iter().position(|r| *r == self).unwrap_or(0) as u64 + 1
    }

    /// The field a test edit visibly changes.
    pub(super) fn edited_field(self) -> &'static str {
        match self {
            Resource::Deals
            | Resource::Leads
            | Resource::ArchivedDeals
            | Resource::ArchivedLeads
            | Resource::Goals
            | Resource::Projects
            | Resource::ArchivedProjects
            | Resource::Tasks
            | Resource::ProjectTemplates => "title",
            Resource::Activities | Resource::CallLogs | Resource::MailThreads => "subject",
            Resource::Notes => "content",
            Resource::Files => "description",
            _ => "name",
        }
    }

    /// The other list of a resource Pipedrive keeps in two, live and archived (deals, leads,
    /// projects): archiving moves a record from one to the other under the same id.
    pub(super) fn twin(self) -> Option<Resource> {
        Some(match self {
            Resource::Deals => Resource::ArchivedDeals,
            Resource::ArchivedDeals => Resource::Deals,
            Resource::Leads => Resource::ArchivedLeads,
            Resource::ArchivedLeads => Resource::Leads,
            Resource::Projects => Resource::ArchivedProjects,
            Resource::ArchivedProjects => Resource::Projects,
            _ => return None,
        })
    }

    /// The archived list of a pair.
    pub(super) fn is_archive(self) -> bool {
        matches!(
            self,
            Resource::ArchivedDeals | Resource::ArchivedLeads | Resource::ArchivedProjects
        )
    }

    /// v2 entities whose records carry `is_deleted`: whether their lists keep deleted records
    /// is a sandbox option (`SandboxOptions::v2_lists_keep_deleted`).
    pub(super) fn v2_deletable(self) -> bool {
        matches!(
            self,
            Resource::Persons
                | Resource::Organizations
                | Resource::Products
                | Resource::Activities
                | Resource::Pipelines
                | Resource::Stages
        )
    }

    /// Resources whose `status` can be `deleted`: a delete keeps them listed under that status
    /// (Pipedrive's `status=deleted`) instead of dropping them from lists.
    pub(super) fn has_status(self) -> bool {
        matches!(
            self,
            Resource::Deals
                | Resource::ArchivedDeals
                | Resource::Projects
                | Resource::ArchivedProjects
        )
    }
}
