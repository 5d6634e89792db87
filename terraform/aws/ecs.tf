resource "aws_cloudwatch_log_group" "service" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name      = local.container_name
      image     = var.container_image
      essential = true
      # The image already runs as 65532 (distroless nonroot); the task repeats it.
      user                   = "65532:65532"
      readonlyRootFilesystem = true
      privileged             = false
      linuxParameters = {
        capabilities = { drop = ["ALL"] }
      }
      portMappings = [
        { containerPort = local.container_port, protocol = "tcp" }
      ]
      environment = [
        for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }
      ]
      secrets = [
        for k in sort(keys(local.secrets)) : { name = k, valueFrom = local.secrets[k] }
      ]
      healthCheck = {
        command     = ["CMD", "/usr/local/bin/url-shortener", "healthcheck"]
        interval    = 15
        timeout     = 3
        retries     = 3
        startPeriod = 10
      }
      # SIGTERM drains in-flight requests (server.shutdown_timeout_seconds = 25) and exits 0;
      # SIGKILL only after this.
      stopTimeout = 40
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service.name
          awslogs-region        = var.region
          awslogs-stream-prefix = "service"
        }
      }
    }
  ])

  lifecycle {
    precondition {
      condition     = var.enable_redis || !var.enable_cache_tier
      error_message = "enable_cache_tier = true needs enable_redis = true: the cache tier is the ElastiCache replication group that enable_redis creates."
    }
  }
}

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  health_check_grace_period_seconds  = 30
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.container_name
    container_port   = local.container_port
  }

  # Autoscaling owns the task count after creation.
  lifecycle {
    ignore_changes = [desired_count]
  }

  # Tasks start only once what they connect to at start exists: the secrets' values and, for
  # Aurora, the instances behind the cluster endpoint (RDS and ElastiCache are created ready).
  depends_on = [
    aws_lb_listener.https,
    aws_secretsmanager_secret_version.redis_url,
    aws_secretsmanager_secret_version.rate_limit_secret,
    aws_secretsmanager_secret_version.postgres_url,
    aws_rds_cluster_instance.postgres,
  ]
}
