from fastapi import APIRouter

from app.api.v1.routes import (
    auth_routes,
    health_routes,
    task_routes,
    user_routes,
)

router = APIRouter()
router.include_router(health_routes.router)
router.include_router(auth_routes.router)
router.include_router(user_routes.router)
router.include_router(task_routes.router)
