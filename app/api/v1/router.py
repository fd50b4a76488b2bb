from fastapi import APIRouter

from app.api.v1.routes import (
    api_key_routes,
    auth_routes,
    bot_config_routes,
    health_routes,
    reddit_app_routes,
    reddit_content_routes,
    scraping_routes,
    task_routes,
    user_routes,
)

router = APIRouter()
router.include_router(health_routes.router)
router.include_router(auth_routes.router)
router.include_router(user_routes.router)
router.include_router(api_key_routes.router)
router.include_router(task_routes.router)
router.include_router(reddit_app_routes.router)
router.include_router(bot_config_routes.router)
router.include_router(scraping_routes.router)
router.include_router(reddit_content_routes.router)
