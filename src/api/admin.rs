//! AdminService: policy, the threshold lab, dry-run scoring and model activation. Not part of this version
//! yet; its RPCs answer UNIMPLEMENTED rather than invent data.

use tonic::{Request, Response, Status};

use super::ApiError;
use crate::proto::admin_service_server::AdminService;
use crate::proto::{
    ActivateModelRequest, ActivateModelResponse, ClassifyRequest, ClassifyResponse,
    GetPolicyRequest, GetPolicyResponse, ListModelsRequest, ListModelsResponse,
    RollbackModelRequest, SimulatePolicyRequest, SimulatePolicyResponse, UpdatePolicyRequest,
    UpdatePolicyResponse,
};

/// The AdminService handlers.
#[derive(Clone, Default)]
pub struct AdminApi;

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn get_policy(
        &self,
        _r: Request<GetPolicyRequest>,
    ) -> Result<Response<GetPolicyResponse>, Status> {
        Err(ApiError::NotAvailable("GetPolicy").into())
    }

    async fn update_policy(
        &self,
        _r: Request<UpdatePolicyRequest>,
    ) -> Result<Response<UpdatePolicyResponse>, Status> {
        Err(ApiError::NotAvailable("UpdatePolicy").into())
    }

    async fn simulate_policy(
        &self,
        _r: Request<SimulatePolicyRequest>,
    ) -> Result<Response<SimulatePolicyResponse>, Status> {
        Err(ApiError::NotAvailable("SimulatePolicy").into())
    }

    async fn classify(
        &self,
        _r: Request<ClassifyRequest>,
    ) -> Result<Response<ClassifyResponse>, Status> {
        Err(ApiError::NotAvailable("Classify").into())
    }

    async fn list_models(
        &self,
        _r: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        Err(ApiError::NotAvailable("ListModels").into())
    }

    async fn activate_model(
        &self,
        _r: Request<ActivateModelRequest>,
    ) -> Result<Response<ActivateModelResponse>, Status> {
        Err(ApiError::NotAvailable("ActivateModel").into())
    }

    async fn rollback_model(
        &self,
        _r: Request<RollbackModelRequest>,
    ) -> Result<Response<ActivateModelResponse>, Status> {
        Err(ApiError::NotAvailable("RollbackModel").into())
    }
}
